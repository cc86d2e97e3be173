// Everything a PNG says about how it was made, from whichever apps wrote it (drag-and-drop import).
import { A1111_KEYWORD, parseA1111, type A1111Parameters } from './a1111.ts';
import { COMFY_PROMPT_KEYWORD, COMFY_WORKFLOW_KEYWORD, parseComfyUI, type ComfyMetadata } from './comfyui.ts';
import { INVOKE_GRAPH_KEYWORD, INVOKE_METADATA_KEYWORD, parseInvokeAI, type InvokeMetadata } from './invokeai.ts';
import { readPngTextMap } from './png-text.ts';
import type { ImportedSettings } from './settings.ts';
import { decodeStudioMetadata, settingsFromStudioMetadata, STUDIO_KEYWORD, type StudioMetadata } from './studio-chunk.ts';

/** A1111 infotext is a few kilobytes; a longer one is not generation settings and is not parsed. */
export const MAX_PARAMETERS_CHARS = 256 * 1024;

export interface ImageMetadata {
  /** Every text chunk, keyword → text. */
  text: Map<string, string>;
  studio?: StudioMetadata;
  a1111?: A1111Parameters;
  comfyui?: ComfyMetadata;
  invokeai?: InvokeMetadata;
  /** The most complete settings found: studio, then A1111, then ComfyUI, then InvokeAI. */
  settings?: ImportedSettings;
  /** Chunks that were present but could not be used, and why. */
  warnings: string[];
}

/** Reads a PNG's metadata; throws PngFormatError only when the file itself is not a readable PNG. */
export function readImageMetadata(png: Uint8Array, source = 'image'): ImageMetadata {
  const text = readPngTextMap(png, source);
  const warnings: string[] = [];
  const result: ImageMetadata = { text, warnings };

  const studioText = text.get(STUDIO_KEYWORD);
  if (studioText !== undefined) {
    try {
      result.studio = decodeStudioMetadata(studioText, source);
    } catch (e) {
      warnings.push((e as Error).message);
    }
  }
  const parameters = text.get(A1111_KEYWORD);
  if (parameters !== undefined && parameters.length > MAX_PARAMETERS_CHARS) {
    warnings.push(`${source}: its A1111 parameters are ${parameters.length} characters long (generation settings are a few thousand), so they were not read`);
  } else if (parameters !== undefined) result.a1111 = parseA1111(parameters);
  if (text.has(COMFY_PROMPT_KEYWORD) || text.has(COMFY_WORKFLOW_KEYWORD)) {
    result.comfyui = parseComfyUI({ prompt: text.get(COMFY_PROMPT_KEYWORD), workflow: text.get(COMFY_WORKFLOW_KEYWORD) });
    if (!result.comfyui) warnings.push(`${source}: ComfyUI chunks hold no graph with a sampler node`);
  }
  if (text.has(INVOKE_METADATA_KEYWORD) || text.has(INVOKE_GRAPH_KEYWORD)) {
    result.invokeai = parseInvokeAI({ metadata: text.get(INVOKE_METADATA_KEYWORD), graph: text.get(INVOKE_GRAPH_KEYWORD) });
    if (!result.invokeai) warnings.push(`${source}: InvokeAI chunks hold no readable settings`);
  }
  result.settings = (result.studio && settingsFromStudioMetadata(result.studio)) ?? result.a1111 ?? result.comfyui ?? result.invokeai;
  return result;
}
