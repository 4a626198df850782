import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { xdpModeFromEnv } from './engine-process.js';

describe('VISP_ENGINE_XDP: the engine fast path the agent asks for', () => {
  it('is auto when unset, and takes each mode the engine knows', () => {
    expect(xdpModeFromEnv({})).toBe('auto');
    for (const m of ['auto', 'off', 'native', 'generic'] as const) expect(xdpModeFromEnv({ VISP_ENGINE_XDP: m })).toBe(m);
  });

  it('refuses anything else, naming the variable and the choices', () => {
    let err: unknown;
    try { xdpModeFromEnv({ VISP_ENGINE_XDP: 'fast' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect((err as InvalidSpecError).message).toMatch(/VISP_ENGINE_XDP="fast": one of auto, off, native, generic/);
    expect((err as InvalidSpecError).field).toBe('VISP_ENGINE_XDP');
  });
});
