// A restricted unpickler for torch.save's data.pkl. It never imports or calls anything: it knows the few
// globals a state dict refers to (OrderedDict, the tensor rebuild functions, the storage types, and
// argparse.Namespace in training checkpoints) and builds inert values for them itself. Any other global,
// and any opcode a state dict does not use, stops the read: such a file needs code to load.

export type PyKey = string | number | boolean | null;
export type PyValue = PyKey | PyValue[] | PyTuple | PyDict | PyObject | PyGlobal | StorageRef | TensorRef;

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** BUILD state (an OrderedDict's `_metadata` attribute), kept but unused. */
  state?: PyValue;
}

/** An instance of an allowed class without behaviour (argparse.Namespace): its BUILD state only. */
export class PyObject {
  state?: PyValue;
  constructor(readonly className: string) {}
}

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export type StorageDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export class StorageRef {
  constructor(readonly key: string, readonly dtype: StorageDType, readonly numel: number) {}
}

export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** In elements of the storage's dtype. */
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export class UnsafePickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePickleError';
  }
}

const STORAGE_TYPES: Record<string, StorageDType> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'argparse.Namespace',
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`),
]);

const MAX_STACK = 1_000_000;
/**
 * Memo entries a pickle may store. A state dict memoizes a few entries per tensor (a 10,000-tensor
 * checkpoint stays under 100,000); 20 M MEMOIZE opcodes cost 48 s and 766 MiB before this bound.
 */
export const MAX_MEMO = 1_000_000;
const MAX_LONG_BYTES = 16;

class Mark {}
const MARK = new Mark();
type Slot = PyValue | Mark;

/** Reads a pickle made of the opcodes torch.save emits (protocol 2; the protocol 4 framing opcodes too). */
export function unpickle(data: Uint8Array, where: string): PyValue {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: Slot[] = [];
  /** Where the MARKs on the stack are, innermost last: closing one is O(1) to find. */
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  const fail = (what: string): never => {
    throw new UnsafePickleError(`${where}: ${what}`);
  };
  const need = (n: number) => {
    // A length read from the file: negative or huge values must stop here, never move `pos` back.
    if (!Number.isSafeInteger(n) || n < 0) fail(`pickle declares a length of ${n} at byte ${pos} (corrupt)`);
    if (pos + n > buf.length) fail(`pickle ends in the middle of an opcode at byte ${pos} (truncated or corrupt)`);
  };
  const u8 = () => (need(1), buf[pos++]);
  const take = (n: number) => {
    need(n);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated GLOBAL name');
    const s = buf.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const push = (v: Slot) => {
    if (stack.length >= MAX_STACK) fail('pickle stack too deep');
    if (v === MARK) marks.push(stack.length);
    stack.push(v);
  };
  const pop = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v instanceof Mark) return fail('pickle pops an empty stack or a MARK (corrupt)');
    stack.pop();
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v instanceof Mark) return fail('pickle has no value to work on (corrupt)');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = marks.pop();
    if (i === undefined) return fail('pickle has no MARK to close (corrupt)');
    const items = stack.slice(i + 1) as PyValue[];
    stack.length = i;
    return items;
  };
  const memoGet = (i: number): PyValue => (memo.has(i) ? memo.get(i)! : fail(`pickle refers to memo ${i} before storing it (corrupt)`));
  const memoPut = (i: number, v: PyValue) => {
    if (!memo.has(i) && memo.size >= MAX_MEMO) fail(`pickle stores more than ${MAX_MEMO} memo entries: not a weights-only checkpoint`);
    memo.set(i, v);
  };
  const global = (module: string, name: string): PyGlobal => {
    const g = new PyGlobal(module, name);
    if (!ALLOWED_GLOBALS.has(g.qualified)) {
      fail(`the pickle refers to ${g.qualified}, which is not part of a weights-only checkpoint: loading it would run code from the file, so it is refused. If you trust the file, convert it to .safetensors with PyTorch (torch.load, then safetensors' save_file)`);
    }
    return g;
  };
  const long = (bytes: Buffer): number => {
    if (bytes.length > MAX_LONG_BYTES) fail(`integer of ${bytes.length} bytes`);
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    if (bytes.length > 0 && bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`integer ${v} is out of range`);
    return Number(v);
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!(target instanceof PyDict)) return fail('SETITEM on something that is not a dict');
    if (items.length % 2) fail('odd number of dict items (corrupt)');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k !== null && typeof k === 'object') fail('dict key that is not a string, number or bool');
      target.map.set(k as PyKey, items[i + 1]);
    }
  };
  const append = (target: PyValue, items: PyValue[]) => {
    if (!Array.isArray(target)) return fail('APPEND on something that is not a list');
    // One at a time: spreading 300k items into push() overflows the call stack.
    for (const item of items) target.push(item);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: take(8); break; // FRAME
      case 0x2e: { // STOP
        const v = pop();
        if (stack.length) fail('pickle leaves values on the stack after STOP (corrupt)');
        return v;
      }
      case 0x28: push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break;
      case 0x89: push(false); break;
      case 0x4a: push(take(4).readInt32LE(0)); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(take(2).readUInt16LE(0)); break; // BININT2
      case 0x8a: push(long(take(u8()))); break; // LONG1
      case 0x8b: push(long(take(take(4).readUInt32LE(0)))); break; // LONG4
      case 0x47: push(take(8).readDoubleBE(0)); break; // BINFLOAT
      case 0x58: push(take(take(4).readUInt32LE(0)).toString('utf8')); break; // BINUNICODE
      case 0x8c: push(take(u8()).toString('utf8')); break; // SHORT_BINUNICODE
      case 0x8d: push(take(long(take(8))).toString('utf8')); break; // BINUNICODE8
      case 0x55: push(take(u8()).toString('latin1')); break; // SHORT_BINSTRING
      case 0x54: push(take(take(4).readUInt32LE(0)).toString('latin1')); break; // BINSTRING
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break;
      case 0x86: { const b = pop(); push(new PyTuple([pop(), b])); break; }
      case 0x87: { const c = pop(); const b = pop(); push(new PyTuple([pop(), b, c])); break; }
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); push(d); break; } // DICT
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(take(4).readUInt32LE(0), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(take(4).readUInt32LE(0))); break; // LONG_BINGET
      case 0x63: { const module = line(); push(global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without a module and name');
        push(global(module as string, name as string));
        break;
      }
      case 0x51: push(persistentLoad(pop(), fail)); break; // BINPERSID
      case 0x52: { const args = pop(); push(call(pop(), args, fail)); break; } // REDUCE
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || cls.qualified !== 'argparse.Namespace' || !(args instanceof PyTuple) || args.items.length) fail('NEWOBJ of something other than argparse.Namespace()');
        push(new PyObject('argparse.Namespace'));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (target instanceof PyDict || target instanceof PyObject) target.state = state;
        else fail('BUILD on an object that is not an OrderedDict or Namespace');
        break;
      }
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at} is not one a weights-only checkpoint uses: the file needs code to load, so it is refused`);
    }
  }
}

type Fail = (what: string) => never;

/** torch's persistent id for a storage: ('storage', <storage type>, key, location, numel). */
function persistentLoad(pid: PyValue, fail: Fail): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') return fail('persistent id that is not a torch storage reference');
  const [, type, key, , numel] = pid.items;
  const dtype = type instanceof PyGlobal && type.module === 'torch' ? STORAGE_TYPES[type.name] : undefined;
  if (!dtype) return fail(`storage of unsupported type ${type instanceof PyGlobal ? type.qualified : describe(type)}`);
  if (typeof key !== 'string' || !/^[\w.-]+$/.test(key)) return fail(`storage key ${describe(key)} is not a plain name`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return fail(`storage ${key} has an invalid size ${describe(numel)}`);
  return new StorageRef(key, dtype, numel);
}

/**
 * A value for an error message: short, and safe for anything a pickle can build (lists may contain
 * themselves, so JSON.stringify would throw "Converting circular structure to JSON").
 */
export function describe(v: PyValue): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `a list of ${v.length} items`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length} items`;
  if (v instanceof PyDict) return `a dict of ${v.map.size} items`;
  if (v instanceof PyGlobal) return v.qualified;
  return v.constructor.name;
}

const ints = (v: PyValue): number[] | undefined =>
  v instanceof PyTuple && v.items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) ? (v.items as number[]) : undefined;

/** REDUCE, evaluated here for the allowed callables only. */
function call(fn: PyValue, args: PyValue, fail: Fail): PyValue {
  if (!(fn instanceof PyGlobal)) return fail('REDUCE of something that is not a known function');
  if (!(args instanceof PyTuple)) return fail(`${fn.qualified} called without an argument tuple`);
  const a = args.items;
  switch (fn.qualified) {
    case 'collections.OrderedDict':
      if (a.length) fail('OrderedDict called with arguments');
      return new PyDict();
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = a;
      const shape = ints(size);
      const strides = ints(stride);
      if (a.length < 6 || a.length > 7 || !(storage instanceof StorageRef) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !shape || !strides || shape.length !== strides.length) {
        return fail('_rebuild_tensor_v2 with arguments that are not (storage, offset, size, stride, …)');
      }
      return new TensorRef(storage, offset, shape, strides);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      if (!(a[0] instanceof TensorRef)) fail(`${fn.qualified} of something that is not a tensor`);
      return a[0];
    case 'argparse.Namespace':
      if (a.length) fail('argparse.Namespace called with positional arguments');
      return new PyObject('argparse.Namespace');
    default:
      return fail(`${fn.qualified} is not callable in a weights-only checkpoint`);
  }
}
