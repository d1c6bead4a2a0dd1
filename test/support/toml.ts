// TOML for tests that read the gateway's config files (the kit writes TOML but never parses it).
import { parse } from 'smol-toml';

/** Plain objects (smol-toml makes null-prototype ones, which deepStrictEqual tells apart). */
export function parseToml(text: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(parse(text))) as Record<string, unknown>;
}
