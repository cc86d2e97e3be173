// Which execution providers this machine can really use, best first, and in which float type.
// The binding's list only says what was compiled in; a provider counts as usable once a 1-node
// session was created on it (CPU fallback forbidden) and returned the right numbers.
import * as ort from 'onnxruntime-node';
import { Graph } from '../onnx/graph.ts';
import { add } from '../onnx/ops.ts';
import { f16ToF32, f32ToF16 } from '../io/safetensors.ts';
import { f16Tensor, ortErrorReason, Session, tensor, type Provider } from './session.ts';

/** Best first. */
export const PROVIDER_ORDER: readonly Provider[] = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'];

export type ComputeDtype = 'float32' | 'float16';

export interface ProviderReport {
  provider: Provider;
  /** Compiled into this onnxruntime-node build for this platform. */
  listed: boolean;
  /** A 1-node float32 session ran on it and gave the right answer. */
  usable: boolean;
  /** A 1-node float16 session did too (WebGPU needs the adapter's shader-f16 feature). */
  fp16: boolean;
  /** The float type to build graphs in for this provider: the CPU computes fp32, GPUs fp16 where it works. */
  computeDtype: ComputeDtype;
  /** Why it is unusable, or why its fp16 path was refused. */
  reason?: string;
}

export interface ProviderChoice {
  provider: Provider;
  computeDtype: ComputeDtype;
  /** Providers to hand to `Session.create`: the chosen one, then the other usable ones, best first. */
  providers: Provider[];
  /** Better providers (and a refused override) that were passed over, with why. */
  refused: { provider: Provider; reason: string }[];
  /** One line for logs and the UI. */
  message: string;
}

let detected: Promise<ProviderReport[]> | undefined;

/** Probes every provider once per process (session creation on a GPU costs a moment); `refresh` probes again. */
export function detectProviders(o: { refresh?: boolean } = {}): Promise<ProviderReport[]> {
  if (!detected || o.refresh) detected = probeAll();
  return detected;
}

async function probeAll(): Promise<ProviderReport[]> {
  const listed = new Set(ort.listSupportedBackends().map((b) => b.name));
  const reports: ProviderReport[] = [];
  // One at a time: session creation is a blocking native call and GPU drivers dislike concurrent init.
  for (const provider of PROVIDER_ORDER) reports.push(await probe(provider, listed.has(provider)));
  return reports;
}

async function probe(provider: Provider, listed: boolean): Promise<ProviderReport> {
  const report: ProviderReport = { provider, listed, usable: false, fp16: false, computeDtype: 'float32' };
  if (!listed) {
    report.reason = `not part of onnxruntime-node on ${process.platform}/${process.arch}`;
    return report;
  }
  const fp32 = await probeDtype(provider, 'float32');
  if (fp32 !== undefined) {
    report.reason = fp32;
    return report;
  }
  report.usable = true;
  const fp16 = await probeDtype(provider, 'float16');
  report.fp16 = fp16 === undefined;
  if (provider !== 'cpu') {
    if (report.fp16) report.computeDtype = 'float16';
    else report.reason = `float16 refused, computing in float32: ${fp16}`;
  }
  return report;
}

// Exactly representable in fp16, so x + x must come back bit-exact on every provider.
const PROBE_VALUES = Float32Array.of(0.5, -1.25, 3, 1024);

/** Undefined when the provider ran the 1-node graph correctly, else why not. */
async function probeDtype(provider: Provider, dtype: ComputeDtype): Promise<string | undefined> {
  const g = new Graph(`probe-${provider}-${dtype}`);
  const x = g.input('x', dtype, [1, PROBE_VALUES.length]);
  g.output(add(x, x), 'y');
  let session: Session | undefined;
  try {
    session = await Session.create(g, { providers: [provider], forbidCpuFallback: true, logSeverity: 4 });
    const dims = [1, PROBE_VALUES.length];
    const feed = dtype === 'float32' ? tensor(PROBE_VALUES.slice(), dims) : f16Tensor(f32ToF16(PROBE_VALUES), dims);
    const y = (await session.run({ x: feed })).y;
    const got = dtype === 'float32' ? (y.data as Float32Array) : f16ToF32(y.data as Uint16Array);
    const wrong = PROBE_VALUES.some((v, i) => got[i] !== 2 * v);
    return wrong ? `a test graph gave wrong numbers (${Array.from(got).join(', ')})` : undefined;
  } catch (e) {
    const missing = missingLibrariesHint(provider, e instanceof Error ? e.message : String(e));
    // Session.create wraps the ORT error; keep only the provider's own reason.
    return missing ?? withHint(provider, ortErrorReason(e).replace(/^no execution provider could run graph "[^"]*": \w+: /, ''));
  } finally {
    await session?.release();
  }
}

/**
 * The requested provider when it works on this machine, else the CPU with a one-line note saying why
 * (ORT itself would print its load errors and fall back without a word). Probes only that provider;
 * `auto` probes them all and takes the fastest that works, saying why in the note.
 */
export async function providerOrCpu(requested: Provider | 'auto'): Promise<{ provider: Provider; note?: string }> {
  if (requested === 'cpu') return { provider: 'cpu' };
  // ORT's default logger prints a provider's load failure to stderr even though the session options ask
  // for silence; the reason is reported in the note instead. Failures still arrive as exceptions.
  ort.env.logLevel = 'fatal';
  if (requested === 'auto') {
    const choice = chooseProvider(await detectProviders());
    return { provider: choice.provider, note: autoLine(choice) };
  }
  const listed = ort.listSupportedBackends().some((b) => b.name === requested);
  const report = await probe(requested, listed);
  if (report.usable) return { provider: requested };
  return { provider: 'cpu', note: `--ep ${requested} is not available here (${report.reason ?? 'it did not start'}); running on the CPU instead` };
}

/** `--ep auto`'s one line: what it took, that it is the fastest working one, and why faster ones were passed over. */
export function autoLine(choice: ProviderChoice): string {
  const passed = choice.refused.map((r) => `; ${r.provider} passed over: ${r.reason}`).join('');
  return `--ep auto: ${choice.provider} (${choice.computeDtype}), the fastest provider that works here (order ${PROVIDER_ORDER.join(' > ')})${passed}`;
}

/**
 * The CUDA and cuDNN major versions that an onnxruntime-node release's CUDA provider is built for (its
 * install script fetches the CUDA 12 build since 1.19; 1.18 and older used CUDA 11.8 and cuDNN 8).
 */
export function cudaRequirement(ortVersion: string): string {
  const [major, minor] = ortVersion.split('.').map(Number);
  const cuda12 = major > 1 || (major === 1 && minor >= 19);
  return cuda12
    ? 'CUDA 12.x (libcudart.so.12, libcublas.so.12, libcublasLt.so.12, libcufft.so.11, libcurand.so.10) and cuDNN 9 (libcudnn.so.9)'
    : 'CUDA 11.8 (libcudart.so.11.0, libcublas.so.11) and cuDNN 8 (libcudnn.so.8)';
}

/**
 * When CUDA's provider libraries or CUDA itself could not be loaded (seen anywhere in the error, which the native
 * session's and the binding's attempts both write into): what to install, in place of the loaders' long messages.
 */
function missingLibrariesHint(provider: Provider, message: string): string | undefined {
  if (provider !== 'cuda' || !/Failed to load shared library|cannot open shared object|CUDA execution provider is not available/.test(message)) return undefined;
  const version = ort.env.versions.node ?? ort.env.versions.common;
  const fetch = cudaRequirement(version).startsWith('CUDA 12') ? 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node fetches it' : "from the package's CUDA download";
  return `its libraries could not be loaded: onnxruntime-node ${version}'s CUDA provider needs ${cudaRequirement(version)} on the library path, and libonnxruntime_providers_cuda.so beside its libonnxruntime (${fetch})`;
}

/** What a user can do about a refusal seen often (research/engine.md §3). */
function withHint(provider: Provider, reason: string): string {
  if (provider === 'webgpu' && /No supported adapters/.test(reason) && process.platform === 'linux') {
    return `${reason} (install a Vulkan driver: libvulkan1, plus libglvnd0 on NVIDIA)`;
  }
  return reason;
}

/**
 * Picks the provider to use: the override when it is usable, else the best usable one. The message
 * names the provider used and, for every better provider passed over, why.
 */
export function chooseProvider(reports: readonly ProviderReport[], override?: Provider): ProviderChoice {
  const usable = reports.filter((r) => r.usable).sort((a, b) => rank(a.provider) - rank(b.provider));
  const wanted = override && usable.find((r) => r.provider === override);
  const chosen = wanted ?? usable[0];
  if (!chosen) {
    throw new Error(`no execution provider works on this machine: ${reports.map((r) => `${r.provider}: ${r.reason ?? 'refused'}`).join('; ')}`);
  }
  const refused: ProviderChoice['refused'] = [];
  if (override && !wanted) {
    const r = reports.find((x) => x.provider === override);
    refused.push({ provider: override, reason: `requested, but ${r?.reason ?? 'it was not probed'}` });
  }
  if (!wanted) {
    for (const r of reports) {
      if (rank(r.provider) < rank(chosen.provider) && r.provider !== override) refused.push({ provider: r.provider, reason: r.reason ?? 'refused' });
    }
  }
  const providers = [chosen.provider, ...usable.map((r) => r.provider).filter((p) => p !== chosen.provider)];
  const how = `${chosen.provider} (${chosen.computeDtype}${chosen.reason ? `; ${chosen.reason}` : ''})`;
  const why = refused.map((r) => `; ${r.provider}: ${r.reason}`).join('');
  const message = `${wanted ? 'using requested provider' : 'using'} ${how}${why}`;
  return { provider: chosen.provider, computeDtype: chosen.computeDtype, providers, refused, message };
}

const rank = (p: Provider) => PROVIDER_ORDER.indexOf(p);

/** Reads a provider override such as STUDIO_PROVIDER=cpu; unknown names are an error that lists the valid ones. */
export function parseProvider(value: string | undefined, source = 'STUDIO_PROVIDER'): Provider | undefined {
  if (value === undefined || value === '' || value === 'auto') return undefined;
  const p = value.toLowerCase();
  if ((PROVIDER_ORDER as readonly string[]).includes(p)) return p as Provider;
  throw new Error(`${source}="${value}" is not an execution provider; use one of ${PROVIDER_ORDER.join(', ')} or auto`);
}
