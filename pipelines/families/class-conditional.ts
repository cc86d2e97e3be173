// What the class-conditional ImageNet families (./dit, ./dico) share: a `.pt` or `.safetensors`
// checkpoint, the VAE it was trained with (--vae), a class label instead of a prompt, and
// learned-variance DDPM.
import { basename, extname } from 'node:path';
import { detectedAs, supports } from './declare.ts';
import { CLASS_CONDITIONAL_DEFAULTS, ClassConditionalPipeline } from '../recipes/class-conditional/pipeline.ts';
import type { ClassConditionalFamily } from '../recipes/class-conditional/model.ts';
import { runClassConditional } from '../recipes/class-conditional/run.ts';
import type { ModelFamily } from './types.ts';

export interface ClassConditionalSpec {
  id: ClassConditionalFamily;
  label: string;
}

export function classConditionalFamily(spec: ClassConditionalSpec): ModelFamily<ClassConditionalPipeline> {
  return {
    id: spec.id,
    label: spec.label,
    score: detectedAs(spec.id),
    // The ImageNet releases' 256² and their published steps and CFG.
    defaults: { width: 256, height: 256, ...CLASS_CONDITIONAL_DEFAULTS[spec.id], sampler: 'ddpm' },
    methods: supports(spec.id, { classLabels: true, vaeOverride: true }),
    samplers: ['ddpm'],
    refusal: (model) => `${basename(model, extname(model))}: it is a class-conditional model (no text encoder, no UNet), sampled with learned-variance DDPM`,
    load: (target, o) => ClassConditionalPipeline.load(target, spec.id, { vae: o.vae, providers: o.providers, sessions: o.sessions }),
    generate: (pipeline, probe, request, options) => runClassConditional(probe.target, spec.id, request, options, async () => pipeline),
  };
}
