// The ControlNet units of the next generation (A1111's ControlNet tab): each has a ControlNet from the
// models folder, a control image (uploaded to the studio's outputs folder when dropped or picked), a
// preprocessor with a preview of the map it makes, weight, start/end and guess mode. What the generate
// call sends is read from here (request.ts).
import type { ControlNetUnit, ControlPreprocessor } from '../../pipelines/jobs/api-generate.ts';
import { MAX_DROPPED_FILE_BYTES } from '../../pipelines/jobs/api-limits.ts';
import type { ApiClient } from './api-client.ts';
import { fileToBase64 } from './preview.ts';

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

  /** Units that would be left out of the request, in words (so Generate can say why). */
  incomplete(): string[] {
    return this.units.flatMap((u, i) => (u.model && u.image ? [] : [`ControlNet ${i + 1} needs ${u.model ? 'a control image' : 'a ControlNet model'}`]));
  }
}
