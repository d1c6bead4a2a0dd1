// TOML for tests that read the gateway's config files (the kit writes TOML but never parses it).
export { parse as parseToml } from 'smol-toml';
