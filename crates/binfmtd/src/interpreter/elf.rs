//! Header-only ELF inspection: machine, `PT_INTERP` and `DT_NEEDED`, read with positioned reads.
//!
//! Invariant: only the ELF header, the program header table, the `PT_INTERP` string, the
//! `PT_DYNAMIC` segment and (for the error message) one library name are read; a few KiB in
//! practice, bounded by the `MAX_*` constants, never the whole 5-15 MB interpreter.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use goblin::container::Ctx;
use goblin::elf::Elf;
use goblin::elf::dynamic::{DT_NEEDED, DT_NULL, DT_STRTAB};
use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, PT_LOAD, ProgramHeader};

use super::error::DynamicReason;
use super::host::{ElfClass, Endianness, HostMachine};

/// Largest program header table read (real interpreters have about a dozen 56-byte entries).
const MAX_PHDR_BYTES: usize = 64 * 1024;
/// Largest `PT_DYNAMIC` segment read (static-pie QEMU's is under 1 KiB).
const MAX_DYNAMIC_BYTES: u64 = 64 * 1024;
/// Longest `PT_INTERP` path read.
const MAX_INTERP_BYTES: u64 = 4096;
/// Longest library name read for the error message.
const MAX_LIB_NAME_BYTES: usize = 256;

/// Positioned reads, so that tests can count the bytes an inspection reads.
pub(super) trait ReadAt {
    /// Reads up to `buf.len()` bytes at `offset`, like `pread(2)`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

/// Fills `buf` from `offset` until it is full or the file ends; returns the bytes read.
pub(super) fn read_full_at(r: &impl ReadAt, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// What the headers say about an ELF file.
#[derive(Debug)]
pub(super) struct ElfFacts {
    /// Machine, class and byte order.
    pub(super) machine: HostMachine,
    /// Why it is dynamically linked, or `None` for a static (or static-pie) binary.
    pub(super) dynamic: Option<DynamicReason>,
}

/// Why an inspection failed.
#[derive(Debug)]
pub(super) enum InspectError {
    /// Not an ELF executable; the string says why.
    NotElf(String),
    /// Reading failed.
    Io(io::Error),
}

impl From<io::Error> for InspectError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

fn not_elf(reason: impl Into<String>) -> InspectError {
    InspectError::NotElf(reason.into())
}

/// Reads the headers of the ELF file behind `r`.
pub(super) fn inspect(r: &impl ReadAt) -> Result<ElfFacts, InspectError> {
    let mut raw = [0u8; 64];
    let len = read_full_at(r, &mut raw, 0)?;
    let machine = HostMachine::from_header(&raw[..len]).ok_or_else(|| match raw.get(..4) {
        Some(magic) if len >= 4 && magic == b"\x7fELF" => {
            not_elf("unknown ELF class or byte order")
        }
        _ => not_elf("no ELF magic"),
    })?;
    let ehdr_size = match machine.class {
        ElfClass::Elf32 => 52,
        ElfClass::Elf64 => 64,
    };
    if len < ehdr_size {
        return Err(not_elf("truncated ELF header"));
    }
    let header =
        Elf::parse_header(&raw[..len]).map_err(|e| not_elf(format!("bad ELF header: {e}")))?;
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(not_elf(format!(
            "ELF type {} is not an executable",
            header.e_type
        )));
    }
    let ctx = Ctx::new(
        header.container().map_err(|e| not_elf(e.to_string()))?,
        header.endianness().map_err(|e| not_elf(e.to_string()))?,
    );
    let phdrs = read_program_headers(r, &header, ctx)?;
    let dynamic = dynamic_reason(r, &phdrs, machine)?;
    Ok(ElfFacts { machine, dynamic })
}

fn read_program_headers(
    r: &impl ReadAt,
    header: &goblin::elf::Header,
    ctx: Ctx,
) -> Result<Vec<ProgramHeader>, InspectError> {
    let count = usize::from(header.e_phnum);
    let entry = usize::from(header.e_phentsize);
    if count == 0 {
        return Err(not_elf("no program headers"));
    }
    if entry != ProgramHeader::size(ctx) {
        return Err(not_elf(format!("program header size {entry} is wrong")));
    }
    let table = count * entry;
    if table > MAX_PHDR_BYTES {
        return Err(not_elf(format!("{count} program headers are too many")));
    }
    let mut buf = vec![0u8; table];
    if read_full_at(r, &mut buf, header.e_phoff)? < table {
        return Err(not_elf("program headers extend past the end of the file"));
    }
    ProgramHeader::parse(&buf, 0, count, ctx)
        .map_err(|e| not_elf(format!("bad program headers: {e}")))
}

fn dynamic_reason(
    r: &impl ReadAt,
    phdrs: &[ProgramHeader],
    machine: HostMachine,
) -> Result<Option<DynamicReason>, InspectError> {
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let len = interp.p_filesz.min(MAX_INTERP_BYTES);
        let path = read_c_string(r, interp.p_offset, len as usize)?;
        return Ok(Some(DynamicReason::Interpreter(path)));
    }
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return Ok(None);
    };
    if dynamic.p_filesz > MAX_DYNAMIC_BYTES {
        return Err(not_elf(format!(
            "dynamic segment of {} bytes is too large",
            dynamic.p_filesz
        )));
    }
    let mut buf = vec![0u8; dynamic.p_filesz as usize];
    if read_full_at(r, &mut buf, dynamic.p_offset)? < buf.len() {
        return Err(not_elf("dynamic segment extends past the end of the file"));
    }
    let (needed, strtab) = scan_dynamic(&buf, machine);
    let Some(needed) = needed else {
        return Ok(None);
    };
    let name = match strtab.and_then(|addr| vaddr_to_offset(phdrs, addr)) {
        Some(offset) => read_c_string(r, offset.saturating_add(needed), MAX_LIB_NAME_BYTES)?,
        None => String::new(),
    };
    let name = if name.is_empty() {
        format!("at string offset {needed}")
    } else {
        name
    };
    Ok(Some(DynamicReason::Needs(name)))
}

/// Returns the first `DT_NEEDED` value (a string table offset) and the `DT_STRTAB` address.
fn scan_dynamic(bytes: &[u8], machine: HostMachine) -> (Option<u64>, Option<u64>) {
    let word = match machine.class {
        ElfClass::Elf32 => 4,
        ElfClass::Elf64 => 8,
    };
    let read = |chunk: &[u8]| -> u64 {
        let mut b = [0u8; 8];
        match machine.endian {
            Endianness::Little => {
                b[..word].copy_from_slice(chunk);
                u64::from_le_bytes(b)
            }
            Endianness::Big => {
                b[8 - word..].copy_from_slice(chunk);
                u64::from_be_bytes(b)
            }
        }
    };
    let (mut needed, mut strtab) = (None, None);
    for entry in bytes.chunks_exact(2 * word) {
        let (tag, val) = (read(&entry[..word]), read(&entry[word..]));
        match tag {
            DT_NULL => break,
            DT_NEEDED if needed.is_none() => needed = Some(val),
            DT_STRTAB => strtab = Some(val),
            _ => {}
        }
    }
    (needed, strtab)
}

/// Maps a virtual address to a file offset through the `PT_LOAD` segments.
fn vaddr_to_offset(phdrs: &[ProgramHeader], addr: u64) -> Option<u64> {
    phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .find(|p| addr >= p.p_vaddr && addr - p.p_vaddr < p.p_filesz)
        .map(|p| p.p_offset + (addr - p.p_vaddr))
}

fn read_c_string(r: &impl ReadAt, offset: u64, max: usize) -> Result<String, InspectError> {
    let mut buf = vec![0u8; max];
    let len = read_full_at(r, &mut buf, offset)?;
    let bytes = &buf[..len];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(len);
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}
