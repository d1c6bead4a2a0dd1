// Is a binary static? The supervisor runs inside arbitrary sandbox images, so
// it must not need their dynamic loader or libraries. An ELF file is static
// when no program header asks for an interpreter (PT_INTERP): true of
// `-static` and of glibc's `static-pie` (+crt-static) alike.
import { closeSync, openSync, readSync } from 'node:fs';

const PT_INTERP = 3;

/** 'static', 'dynamic' (names its interpreter), or 'not-elf'. Reads only the headers. */
export function elfLinkage(path: string): 'static' | 'dynamic' | 'not-elf' {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, 64, 0) < 64 || head.readUInt32BE(0) !== 0x7f454c46) return 'not-elf';
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === PT_INTERP) return 'dynamic';
    return 'static';
  } finally {
    closeSync(fd);
  }
}
