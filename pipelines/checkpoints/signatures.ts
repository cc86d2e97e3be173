// The checkpoint signatures of every model family that is read from checkpoint files, in the order
// detection tries them (SDXL files also hold SD 1.x-like UNet names, so SDXL comes first).
import { dicoCheckpoint } from '../families/dico/checkpoint.ts';
import { ditCheckpoint } from '../families/dit/checkpoint.ts';
import { sd1Checkpoint } from '../families/sd1/checkpoint.ts';
import { sd2Checkpoint } from '../families/sd2/checkpoint.ts';
import { sdxlCheckpoint } from '../families/sdxl/checkpoint.ts';
import { sd3Checkpoint } from '../families/sd3/checkpoint.ts';
import { fluxCheckpoint } from '../families/flux/checkpoint.ts';
import { pixartCheckpoint } from '../families/pixart/checkpoint.ts';
import type { CheckpointSignature, SdCheckpointProfile } from './signature.ts';

export const SD_PROFILES: readonly SdCheckpointProfile[] = [sdxlCheckpoint, sd2Checkpoint, sd1Checkpoint];
// SD3 and FLUX first: their single files may also hold `model.diffusion_model.*` names.
export const SIGNATURES: readonly CheckpointSignature[] = [sd3Checkpoint, fluxCheckpoint, ...SD_PROFILES, pixartCheckpoint, ditCheckpoint, dicoCheckpoint];

/** The Stable Diffusion profile of a family id, or undefined for other families. */
export const sdProfile = (family: string): SdCheckpointProfile | undefined => SD_PROFILES.find((p) => p.id === family);

export const signature = (family: string): CheckpointSignature | undefined => SIGNATURES.find((s) => s.id === family);
