// The generate form's state, shared by the panels that edit it.
import type { SamplerName } from '../../pipelines/recipes/request.ts';

export type SeedMode = 'random' | 'fixed' | 'increment';
export type AttentionKind = 'softmax' | 'agent' | 'linfusion';

export class GenerateForm {
  prompt = $state('');
  negative = $state('');
  /** Empty: the default model. */
  model = $state('');
  sampler = $state<SamplerName>('dpmpp_2m_karras');
  steps = $state(20);
  cfg = $state(7.5);
  seed = $state(0);
  seedMode = $state<SeedMode>('random');
  width = $state(512);
  height = $state(512);
  batch = $state(1);
  attention = $state<AttentionKind>('softmax');
  linfusionPath = $state('');
  /** 0 turns PAG off. */
  pagScale = $state(0);
  clipSkip = $state(1);
}
