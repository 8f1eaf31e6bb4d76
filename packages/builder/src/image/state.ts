import type { ContainerConfig, Descriptor, DiffId, HistoryEntry, ImageConfig } from '@strata/cache';
import { configPlatform, type TargetPlatform } from '../platform.js';

/** One layer of an image: its blob and its uncompressed digest. */
export interface LayerInfo {
  readonly descriptor: Descriptor;
  readonly diffId: DiffId;
}

/**
 * An image while it is built: config and layers. Values are immutable; each
 * step returns a new state (go-containerregistry's mutate style).
 */
export interface ImageState {
  readonly config: ImageConfig;
  readonly layers: readonly LayerInfo[];
}

/** The config of a FROM scratch image on a platform. */
export function emptyImage(platform: TargetPlatform): ImageState {
  return {
    config: {
      ...configPlatform(platform),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    },
    layers: [],
  };
}

/** The container config with its defaults filled in. */
export function containerConfig(state: ImageState): ContainerConfig {
  return state.config.config ?? {};
}

/** Returns a new state with the container config changed by `change`. */
export function withConfig(state: ImageState, change: (c: ContainerConfig) => ContainerConfig): ImageState {
  return { ...state, config: { ...state.config, config: change(containerConfig(state)) } };
}

/** Appends a history entry; `layer` appends a layer too (otherwise the entry is `empty_layer`). */
export function withHistory(state: ImageState, entry: Omit<HistoryEntry, 'empty_layer'>, layer?: LayerInfo): ImageState {
  const history = [...(state.config.history ?? []), layer === undefined ? { ...entry, empty_layer: true } : entry];
  if (layer === undefined) return { ...state, config: { ...state.config, history } };
  return {
    config: {
      ...state.config,
      history,
      rootfs: { type: 'layers', diff_ids: [...state.config.rootfs.diff_ids, layer.diffId] },
    },
    layers: [...state.layers, layer],
  };
}

/** The environment as a map, in order (later entries win, as in the runtime). */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq === -1) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

/** Sets environment variables, keeping the position of those already set (docker's ENV). */
export function setEnv(env: readonly string[] | undefined, pairs: readonly (readonly [string, string])[]): string[] {
  const out = [...(env ?? [])];
  for (const [key, value] of pairs) {
    const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
    if (at === -1) out.push(`${key}=${value}`);
    else out[at] = `${key}=${value}`;
  }
  return out;
}

/** The default PATH docker build gives an image whose config has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
