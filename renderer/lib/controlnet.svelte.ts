// The ControlNet units of the next generation (A1111's ControlNet tab): each has a ControlNet from the
// models folder, a control image (uploaded to the studio's outputs folder when dropped or picked), a
// preprocessor with a preview of the map it makes, weight, start/end and guess mode. What the generate
// call sends is read from here (request.ts); recall restores the units of an image's exact request, or what another
// app's ControlNet units recorded (A1111's extension keeps no control image).
import type { ControlNetUnit, ControlPreprocessor, GenerateRequest } from '../../pipelines/jobs/api-generate.ts';
import type { ImportedSettingsView } from '../../pipelines/jobs/api-studio.ts';
import type { LibraryEntry } from '../../pipelines/jobs/api-library.ts';
import { MAX_DROPPED_FILE_BYTES } from '../../pipelines/jobs/api-limits.ts';
import type { ApiClient } from './api-client.ts';
import { fileToBase64 } from './preview.ts';
import { fileName, libraryFile, stem } from './library-lookup.ts';

export class ControlUnit {
  /** The ControlNet file or folder (a library entry's path). */
  model = $state('');
  /** The control image inside the outputs folder (`uploads/…`), once uploaded; its file name for people. */
  image = $state<string | undefined>(undefined);
  imageName = $state('');
  preprocess = $state<ControlPreprocessor>('none');
  weight = $state(1);
  start = $state(0);
  end = $state(1);
  guessMode = $state(false);
  /** The preprocessed map as a data: URL, for the preview. */
  preview = $state<string | undefined>(undefined);
  previewing = $state(false);
}

export class ControlNetState {
  units = $state<ControlUnit[]>([]);

  constructor(private readonly api: ApiClient) {}

  add(model = ''): void {
    const unit = new ControlUnit();
    unit.model = model;
    this.units.push(unit);
  }

  remove(unit: ControlUnit): void {
    this.units = this.units.filter((u) => u !== unit);
  }

  /** Sends the file to the studio and shows its preprocessed map. Throws a message for people on failure. */
  async setImage(unit: ControlUnit, file: File): Promise<void> {
    if (file.size > MAX_DROPPED_FILE_BYTES) throw new Error(`"${file.name}" is ${(file.size / 1024 / 1024).toFixed(0)} MiB; control images up to ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MiB are taken.`);
    const { image } = await this.api.call('uploadImage', { name: file.name, dataBase64: await fileToBase64(file) });
    unit.image = image;
    unit.imageName = file.name;
    await this.refreshPreview(unit);
  }

  /** The map the ControlNet will see with the unit's preprocessor. */
  async refreshPreview(unit: ControlUnit): Promise<void> {
    if (!unit.image) return;
    unit.previewing = true;
    try {
      const { pngBase64 } = await this.api.call('controlPreview', { image: unit.image, preprocess: unit.preprocess });
      unit.preview = `data:image/png;base64,${pngBase64}`;
    } finally {
      unit.previewing = false;
    }
  }

  /** The units ready to send (a ControlNet and an image chosen), as the generate request takes them. */
  request(): ControlNetUnit[] {
    return this.units
      .filter((u) => u.model && u.image)
      .map((u) => ({ model: u.model, image: u.image!, preprocess: u.preprocess, weight: u.weight, start: u.start, end: u.end, guessMode: u.guessMode }));
  }

  /**
   * The units of an image's exact request, with their control images, else those another app recorded (ControlNet,
   * preprocessor, weight, steps; the control image is the user's to add again); none: no units. A ControlNet the
   * library lacks is named and its unit left out. Returns notes.
   */
  restore(exact: GenerateRequest | undefined, settings: ImportedSettingsView | undefined, library: readonly LibraryEntry[]): string[] {
    const recorded = exact
      ? (exact.controlNets ?? [])
      : (settings?.controlNets ?? []).map((u) => ({ ...u, preprocess: u.studioPreprocess ?? ('none' as const), image: undefined }));
    const notes: string[] = [];
    this.units = recorded.flatMap((u, i) => {
      const entry = libraryFile(library, 'controlnet', u.model);
      if (!entry) {
        notes.push(`ControlNet "${stem(u.model)}" is not in the library; unit ${i + 1} is left out (add it to the models folder)`);
        return [];
      }
      if ('module' in u && !u.studioPreprocess) notes.push(`preprocessor "${u.module}" is not one of the studio's; ControlNet ${i + 1} takes its control image as it is`);
      const unit = new ControlUnit();
      Object.assign(unit, { model: entry.path, image: u.image, imageName: u.image ? fileName(u.image) : '', preprocess: u.preprocess, weight: u.weight, start: u.start, end: u.end, guessMode: u.guessMode });
      return [unit];
    });
    const withoutImage = this.units.filter((u) => !u.image).length;
    if (withoutImage) notes.push(`${withoutImage === 1 ? 'the ControlNet needs its' : `${withoutImage} ControlNets need their`} control image again (the image records only the settings)`);
    // The maps are drawn again from the uploaded control images; one that is gone shows none (Generate names it then).
    for (const unit of this.units) if (unit.image) this.refreshPreview(unit).catch(() => (unit.preview = undefined));
    return notes;
  }

  /** Units that would be left out of the request, in words (so Generate can say why). */
  incomplete(): string[] {
    return this.units.flatMap((u, i) => (u.model && u.image ? [] : [`ControlNet ${i + 1} needs ${u.model ? 'a control image' : 'a ControlNet model'}`]));
  }
}
