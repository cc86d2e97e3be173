// The help of `studio` and `studio generate`. The model families come from the registry
// (pipelines/jobs/families.ts), which loads every family's code: help loads it on demand only.
import { attentionCliForms, EXECUTION_PROVIDERS, SAMPLER_NAMES } from '../../pipelines/jobs/api.ts';
import type { FamilySummary } from '../../pipelines/jobs/families.ts';

/** The registry's model families (loads the engine's family code; call it only to print help). */
export async function registeredFamilies(): Promise<FamilySummary[]> {
  return (await import('../../pipelines/jobs/families.ts')).familySummaries();
}

/** `emoji-lit (default), emoji-dit, emoji-dico`: the models shipped with the studio. */
function builtInModels(families: readonly FamilySummary[]): string {
  return families.filter((f) => f.builtIn).map((f) => (f.isDefault ? `${f.id} (default)` : f.id)).join(', ');
}

/** One line a family: id, name, and what a request leaving size, steps, CFG and sampler out draws with. */
function familyTable(families: readonly FamilySummary[]): string {
  const idWidth = Math.max(...families.map((f) => f.id.length));
  const labelWidth = Math.max(...families.map((f) => f.label.length));
  return families
    .map(({ id, label, defaults: d }) => `  ${id.padEnd(idWidth)}  ${label.padEnd(labelWidth)}  ${d.width}×${d.height}, ${d.steps} steps, cfg ${d.cfg}, ${d.sampler}`)
    .join('\n');
}

export const mainHelp = (families: readonly FamilySummary[]): string => `Usage: studio <command> [options]

Commands:
  generate     Generate images from a prompt (txt2img, or img2img with --init-image)
  serve        Serve the studio UI in a browser (loopback only unless --token)
  batch        Generate many images from a .txt/.csv/.jsonl file or an X/Y sweep (resumable; --redis spreads it over workers)
  worker       Run generate jobs from a Redis queue (one per machine or GPU)
  queue        Status of a Redis queue; retry its failed jobs; drain it
  presets      List, show, validate plugin presets; import A1111 styles.csv
  heads        List a model's attention heads; search heads to perturb (HeadHunter)
  story        Consistent subjects across scenes (IR-Diffusion) from a STORY.json
  models       List checkpoints, LoRAs, embeddings, VAEs, ControlNets, upscalers with A1111 hashes
  upscale      Enlarge an image with an ESRGAN / Real-ESRGAN / SwinIR upscaler file, in tiles
  help [cmd]   Show help for a command

Options:
  -h, --help     Show this help
  -v, --version  Show the studio version

Model families (recognised from the checkpoint; built in: ${builtInModels(families)}):
  ${families.map((f) => f.id).join(', ')}

Run "studio generate --help" for the generation options and each family's defaults.
`;

export const generateHelp = (families: readonly FamilySummary[]): string => `Usage: studio generate --prompt TEXT [options]

Model:
  --model PATH           Checkpoint file (.safetensors), diffusers folder, a model name in
                         --models-dir, or a built-in model: ${builtInModels(families)}
                         (the family is recognised from the files; see "Model families" below)
  --models-dir DIR       Folder searched for model names
  --vae PATH             Use this VAE instead of the model's own
  --config DIR_OR_YAML   For a single file: its diffusers config folder (default: <stem>/ beside
                         it) or original .yaml (default: <stem>.yaml); wins over weight statistics
  --clip-skip N          1 = last text encoder layer (default), 2 = penultimate, …
  --lora FILE[:W]        Merge a LoRA / LyCORIS file (or a name in --lora-dir) at weight W
                         (default 1); repeatable. Prompt tags <lora:NAME:W> do the same
  --lora-dir DIR         Where LoRA names are found (default: the models dir's Lora/ or loras/)
  --embeddings DIR       Textual-inversion embeddings (.pt, .safetensors): a prompt word equal
                         to a file's name becomes its vectors
  --class N              Class-conditional DiT/DiCo (ImageNet .pt or .safetensors): the class
                         to draw (needs --vae with an SD VAE); --prompt is then optional

Prompt:
  -p, --prompt TEXT      What to draw (A1111 weighting: (word:1.2), (word), [word])
  -n, --negative TEXT    What to avoid

Sampling:
  --steps N              Denoising steps (default: the model's; 20 for Stable Diffusion)
  --cfg X                Classifier-free guidance scale (default: the model's; 7.5 for SD)
  --sampler NAME         Default: the model's (dpmpp_2m_karras for SD). One of:
                         ${SAMPLER_NAMES.join(' ')}
                         (prediction type and timestep spacing come from the model)
  --seed N               0 to ${Number.MAX_SAFE_INTEGER}; -1 or absent: random
  --width W, --height H  Multiples of 8 (default: the model's native size)
  --batch N              Images from the one seed, drawn as diffusers does (default 1)

img2img:
  --init-image PATH      Start from this image
  --strength S           0 < S <= 1, how much of the image is redrawn (default 0.8)
  --mask PATH            Inpaint: white = repaint, black = keep (SD 1.x/2.x/XL); a mask of
                         another size is stretched to the image's, with a notice. Inpainting
                         checkpoints (9-channel UNets) are recognised and given the mask too
  --mask-blur PX         Soften the mask's edge (default 4); outside it the input is kept exactly
  --inpaint-area whole|masked   masked: redraw only the mask's region (plus --padding PX,
                         default 32) at the full size, then paste it back (A1111's "Only masked")
  --outpaint L,R,T,B     Extend the canvas by these pixels (multiples of 8) and generate the border;
                         --width/--height size the init image inside it

Hires fix (A1111's): draw at the base size, upscale, redraw the details:
  --hires-fix SCALE[:DENOISE[:UPSCALER]]
                         e.g. 2 or 1.5:0.5:lanczos; DENOISE default 0.7; UPSCALER one of
                         latent (bilinear, default), latent-nearest, latent-bicubic, lanczos
  --hires-steps N        Steps of the second pass (default: --steps)

ControlNet (SD 1.x/2.x/XL; diffusers folders or .safetensors, original or diffusers layout):
  --controlnet FILE[:WEIGHT[:START:END]]
                         WEIGHT 0-2 (default 1); START/END: fractions of the steps where it acts
                         (default 0:1). Repeatable: several ControlNets add up
  --control-image PATH   The control image of the ControlNet before it (one per --controlnet);
                         another size is resized to the image's, with a notice
  --preprocess canny|softedge|none
                         Make edges from a photo, or use the image as it is (depth, pose, normal
                         maps); one for all or one per ControlNet (default none)
  --guess-mode           ControlNet stronger than the prompt (diffusers' guess mode)

IP-Adapter (image prompt; SD 1.x/2.x/XL, base and Plus adapters, .safetensors or .bin):
  --ip-adapter FILE[:SCALE]
                         e.g. ip-adapter_sd15.safetensors:0.6; SCALE 0-2 (default 1)
  --ip-image PATH        The image prompt (resized and centre-cropped as CLIP's processor does)
  --image-encoder DIR    The CLIP image encoder the adapter was trained with (config.json +
                         model.safetensors); default: image_encoder/ beside the adapter

LinFusion's high-resolution modes (best with --attention linfusion:PATH):
  --hires WxH            Final size: the base (--width x --height) doubled once per stage,
                         each stage a x2 resize and img2img (e.g. --width 1024 --height 512
                         --hires 16384x8192: 4 stages); multiples of 64
  --hires-mode MODE      ladder: the SDEdit ladder (default; SD 1.x/2.x/XL)
                         highres: LinFusion's SDXL HighRes: a base with long side 1024, then
                         per x2 scale a dual-branch stage (plain + dilated-convolution UNet)
                         superres: LinFusion's SDXL SuperRes of --init-image to WxH (x2 steps
                         when the scale is a power of two); also: studio upscale --model
  --hires-strengths S1,S2,…   Strength per stage (ladder default 0.4,0.3,0.2,0.1; SuperRes
                         chain default 0.32,0.24,0.16,0.08)
  --hires-memory GIB     The most GPU memory the stages may use (default: all of it); each stage
                         runs the fastest way that fits (UNet split into sessions, CFG rows one
                         at a time, smaller VAE tiles). Above what the GPU reports, the ladder
                         runs on your word where the estimate would refuse it
  --upscale-strength S   HighRes: the first scale's strength, falling linearly to 0 (0.32);
                         SuperRes: the first stage's
  --cosine-scale-1 E, --cosine-scale-2 E, --cosine-scale-3 E
                         HighRes/SuperRes: exponents of the cosine factor for the skip
                         residual, the dilated branch's weight and the blur (3, 1, 1)
  --gaussian-sigma S     HighRes/SuperRes: the blur's sigma at the start (1; the notebooks 0.8)
  --keep-stages          Also keep every stage's image (FILE-stageK-WxH.png); they are kept
                         anyway when a later stage fails

Live previews:
  --previews DIR         Write a preview PNG of the running image per denoise step: step-001.png …
                         (hires fix's second pass: hires-step-001.png …)
  --preview-every N      Only every N steps (and the last)
  --taesd FILE           Draw them with this TAESD decoder (.safetensors/.pth); default: the
                         family's in <models dir>/vae_approx/ if there, else a latent→RGB map
                         fitted through the model's own VAE (the emoji models: their own decoder)

Guidance and attention:
  --pag-scale X          Perturbed-attention guidance scale (0 = off)
  --pag-layers L1,L2     UNet layers for PAG, diffusers names: mid, down_blocks.1,
                         up_blocks.0.attentions.1, … (default mid)
  --heads SPEC           Perturb single heads (SoftPAG): L3H1:0.5,L4H0:1, L3:1 (all heads),
                         or a head preset file/name; needs --pag-scale. See "studio heads list"
  --attention KIND       ${attentionCliForms().join(', ')}
                         (default softmax; agent: merge ratios 0-1, agentSteps = share of steps with agents)
  --preset NAME          Apply a style or sampler preset from the plugins folder
  --from IMAGE.png       Re-run an image made by this studio or A1111: its prompt, seed, steps,
                         sampler, CFG, size, LoRAs and embeddings; the model and files are found
                         by their hashes in --models-dir (A1111/ComfyUI layout). Flags override

Runtime and output:
  --ep NAME              Execution provider: ${EXECUTION_PROVIDERS.join(' | ')} (default cpu)
  -o, --out PATH         A path ending in .png is the file to write (one image, never
                         overwritten); any other path is a folder, created if needed, that
                         receives NNNNN-SEED.png files numbered after those already there
                         (default: outputs)
  --json                 Print {files, seeds, timings, ep} as JSON on stdout
  --progress MODE        On stderr: bar (redrawn in place), lines ("denoise 3/20", one per
                         step) or none; default bar on a terminal, lines otherwise
  -h, --help             Show this help

Model families, and what each draws with when --width/--height, --steps, --cfg or --sampler are left out:
${familyTable(families)}

Each PNG carries A1111's "parameters" text and the studio's own JSON that re-runs it.
Ctrl-C cancels after the current step and writes nothing; a second Ctrl-C stops the engine at once.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage, 130 cancelled.
`;
