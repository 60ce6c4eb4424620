// Stage registry: refer to a stage module by name ('parse') instead of by file. A registration can
// carry defaults for the stage (workers, error policy, options) that a pipeline's stage spec overrides.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RingwireTypeError } from '../errors.js';
import type { ErrorPolicy } from './stage-loop.js';

export interface StageDefaults {
  /** The handler's export name (default 'handler', else the default export). */
  export?: string;
  workers?: number;
  onError?: ErrorPolicy;
  options?: unknown;
}

export interface Registration extends StageDefaults {
  /** File URL of the module. */
  url: string;
}

/** A file path (absolute, or relative to the working directory), a file: URL string or a URL: its href. */
export function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (module.startsWith('file:')) return new URL(module).href;
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
}

const looksLikeFile = (s: string) => s.startsWith('file:') || s.startsWith('.') || isAbsolute(s) || /\.[cm]?[jt]s$/.test(s);

export class StageRegistry {
  readonly #stages = new Map<string, Registration>();

  /** Registers `name` for a module (path or URL); returns the registry. Re-registering replaces. */
  register(name: string, module: string | URL, defaults: StageDefaults = {}): this {
    if (typeof name !== 'string' || name.length === 0) throw new RingwireTypeError(`stages.register: name must be a non-empty string, got ${String(name)}`);
    if (!(module instanceof URL) && typeof module !== 'string') throw new RingwireTypeError(`stages.register('${name}'): module must be a path or a URL`);
    this.#stages.set(name, { ...defaults, url: moduleUrl(module) });
    return this;
  }

  unregister(name: string): boolean {
    return this.#stages.delete(name);
  }

  has(name: string): boolean {
    return this.#stages.has(name);
  }

  get(name: string): Registration | undefined {
    return this.#stages.get(name);
  }

  names(): string[] {
    return [...this.#stages.keys()];
  }

  /**
   * A registered name, else a file (path or URL). Returns the registration and the name to show:
   * the registered name, or the file's base name.
   */
  resolve(ref: string | URL): { name: string; registration: Registration } {
    if (typeof ref === 'string') {
      const r = this.#stages.get(ref);
      if (r !== undefined) return { name: ref, registration: r };
      if (!looksLikeFile(ref)) {
        throw new RingwireTypeError(`unknown stage '${ref}': register it with stages.register('${ref}', file), or give a file path or URL`);
      }
    }
    const url = moduleUrl(ref);
    const base = url.slice(url.lastIndexOf('/') + 1).replace(/\.[cm]?[jt]s$/, '');
    return { name: base, registration: { url } };
  }
}

/** The default registry, used by pipelines that do not pass their own. */
export const stages = new StageRegistry();
