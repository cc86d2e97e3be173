// PyTorch checkpoints (`torch.save` zip archives: <name>/data.pkl + <name>/data/<key> storages) read
// without running pickle code. The pickle is parsed by a restricted unpickler that builds tensor
// references itself; each tensor becomes {dtype, shape, offset, byteLength} pointing into the archive's
// stored (uncompressed) storage entry, so ORT reads the weights in place as external data, as it does
// for safetensors files.
import { DTYPE_BYTES, TensorFile, TensorFileError, withOpenFile, type TensorInfo } from './tensor-file.ts';
import { readAt, readZipDirectory, storedDataOffset, ZipError, type ZipEntry } from './torch-pt/zip.ts';
import { PyDict, PyTuple, TensorRef, unpickle, UnsafePickleError, type PyValue } from './torch-pt/unpickle.ts';

export { UnsafePickleError };

export class TorchPtError extends TensorFileError {
  override name = 'TorchPtError';
}

const MAX_PICKLE_BYTES = 256 * 1024 * 1024;
/**
 * Sub-dicts that hold the weights in training checkpoints, in the order they are preferred (`string_to_param`:
 * an A1111 embedding's vectors, under `*`; `params_ema` / `params`: BasicSR's, e.g. Real-ESRGAN upscalers).
 */
const STATE_DICT_KEYS = ['ema', 'params_ema', 'params', 'state_dict', 'model', 'string_to_param'] as const;

/** Dicts of tensors under a dict (IP-Adapter's `{image_proj: {...}, ip_adapter: {...}}`) as one dict of dotted names. */
function nestedDicts(root: PyDict): PyDict {
  const flat = new PyDict();
  for (const [outer, sub] of root.map) {
    if (!(sub instanceof PyDict) || typeof outer !== 'string') continue;
    for (const [inner, value] of sub.map) if (value instanceof TensorRef && typeof inner === 'string') flat.map.set(`${outer}.${inner}`, value);
  }
  return flat.map.size ? flat : root;
}

export class TorchPtFile extends TensorFile {
  /** The sub-dict the weights came from (`ema` in DiT/DiCo training checkpoints), or undefined for a bare state dict. */
  selected?: string;
  /** Top-level keys of a checkpoint dict (e.g. model, ema, opt, args). */
  topLevelKeys: string[] = [];

  private constructor(path: string) {
    super(path);
  }

  protected error(message: string, tensor?: string): TorchPtError {
    return new TorchPtError(this.path, message, tensor);
  }

  static open(path: string): TorchPtFile {
    return withOpenFile(path, (file, message) => new TorchPtError(file, message), (fd, size, abs) => {
      const pt = new TorchPtFile(abs);
      try {
        pt.read(fd, size);
      } catch (e) {
        if (e instanceof ZipError || e instanceof UnsafePickleError) throw new TorchPtError(abs, e.message.replace(`${abs}: `, ''));
        throw e;
      }
      return pt;
    });
  }

  private read(fd: number, size: number): void {
    const magic = readAt(fd, this.path, 0, Math.min(4, size));
    if (magic.length < 4 || magic.readUInt32LE(0) !== 0x04034b50) {
      throw new TorchPtError(this.path, 'not a zip-format PyTorch checkpoint (files from torch before 1.6, and other pickles, are not read): re-save it with a current torch, or convert it to .safetensors');
    }
    const entries = readZipDirectory(fd, this.path, size);
    const pickleEntry = [...entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
    if (!pickleEntry) {
      const scripted = [...entries.keys()].some((n) => /\/(code|constants\.pkl)/.test(n));
      throw new TorchPtError(this.path, scripted ? 'a TorchScript archive, not a state dict: export the weights with torch.save(model.state_dict())' : 'zip archive without <name>/data.pkl: not a torch.save checkpoint');
    }
    const prefix = pickleEntry.name.slice(0, -'data.pkl'.length);
    const order = entries.get(`${prefix}byteorder`);
    if (order) {
      const text = readAt(fd, this.path, storedDataOffset(fd, this.path, size, order), order.size).toString('latin1');
      if (text !== 'little') throw new TorchPtError(this.path, `tensors are stored ${text}-endian; only little-endian checkpoints are read`);
    }
    if (pickleEntry.size > MAX_PICKLE_BYTES) throw new TorchPtError(this.path, `data.pkl is ${pickleEntry.size} bytes, too large for a state dict`);
    const pickle = readAt(fd, this.path, storedDataOffset(fd, this.path, size, pickleEntry), pickleEntry.size);
    const root = unpickle(pickle, pickleEntry.name);
    const stateDict = this.pickStateDict(root);
    const storages = new Map<string, { offset: number; size: number }>();
    for (const [name, value] of stateDict.map) {
      if (!(value instanceof TensorRef) || typeof name !== 'string') continue;
      const key = value.storage.key;
      let storage = storages.get(key);
      if (!storage) {
        const entry: ZipEntry | undefined = entries.get(`${prefix}data/${key}`);
        if (!entry) throw new TorchPtError(this.path, `storage ${key} is missing from the archive (truncated or corrupt)`, name);
        storage = { offset: storedDataOffset(fd, this.path, size, entry), size: entry.size };
        storages.set(key, storage);
      }
      this.tensors.set(name, this.tensorInfo(name, value, storage));
    }
    if (this.tensors.size === 0) {
      throw new TorchPtError(this.path, `no tensors found${this.selected ? ` in "${this.selected}"` : ''} (top-level keys: ${this.topLevelKeys.join(', ') || 'none'})`);
    }
  }

  /** DiT/DiCo's sample scripts load `ckpt["ema"]` when present, else the file is the state dict itself. */
  private pickStateDict(root: PyValue): PyDict {
    if (!(root instanceof PyDict)) {
      throw new TorchPtError(this.path, `holds a ${root instanceof PyTuple ? 'tuple' : Array.isArray(root) ? 'list' : typeof root}, not a dict of tensors`);
    }
    this.topLevelKeys = [...root.map.keys()].map(String);
    if ([...root.map.values()].some((v) => v instanceof TensorRef)) return root;
    for (const key of STATE_DICT_KEYS) {
      const sub = root.map.get(key);
      if (sub instanceof PyDict) {
        this.selected = key;
        return sub;
      }
    }
    return nestedDicts(root);
  }

  private tensorInfo(name: string, t: TensorRef, storage: { offset: number; size: number }): TensorInfo {
    const { dtype } = t.storage;
    const item = DTYPE_BYTES[dtype];
    const numel = t.shape.reduce((a, b) => a * b, 1);
    let expected = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      if (t.shape[i] !== 1 && numel > 0 && t.stride[i] !== expected) {
        throw new TorchPtError(this.path, `is stored non-contiguous (shape [${t.shape}], strides [${t.stride}]); re-save it after .contiguous(), or convert the file to .safetensors`, name);
      }
      expected *= t.shape[i];
    }
    const begin = t.storageOffset * item;
    const byteLength = numel * item;
    if ((t.storageOffset + numel) > t.storage.numel || begin + byteLength > storage.size) {
      throw new TorchPtError(this.path, `reaches past the end of its storage ${t.storage.key} (corrupt file)`, name);
    }
    return { name, dtype, shape: [...t.shape], offset: storage.offset + begin, byteLength, file: this.path };
  }
}

