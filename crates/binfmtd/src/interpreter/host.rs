//! `HostMachine`: the ELF machine, class and byte order this host runs natively.
//!
//! An interpreter must match all three: an x32 binary (EM_X86_64, 32-bit) is no more an x86-64
//! host binary than an aarch64 one is.

use std::fmt;
use std::fs::File;
use std::path::Path;

use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB};
use serde::{Deserialize, Serialize};

use super::elf::{ReadAt, read_full_at};
use super::error::InterpreterError;

/// ELF file class: the word size of the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

/// ELF data encoding: the byte order of the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Endianness {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

/// The machine an ELF file is built for: `e_machine`, class and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostMachine {
    /// The `e_machine` field (`EM_X86_64` = 62, `EM_AARCH64` = 183, ...).
    pub machine: u16,
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// Little- or big-endian.
    pub endian: Endianness,
}

impl HostMachine {
    /// The machine of the running program, read from the header of `/proc/self/exe`.
    pub fn current() -> Result<Self, InterpreterError> {
        Self::of_file(Path::new("/proc/self/exe"))
    }

    /// The machine of the ELF file at `path` (only its first 64 bytes are read).
    pub fn of_file(path: &Path) -> Result<Self, InterpreterError> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InterpreterError::NotFound { path: path.into() },
            _ => InterpreterError::io("opening", path, e),
        })?;
        Self::read_from(&file, path)
    }

    /// Reads the identification bytes through `reader` and decodes them.
    pub(super) fn read_from(reader: &impl ReadAt, path: &Path) -> Result<Self, InterpreterError> {
        let mut header = [0u8; 20];
        let len = read_full_at(reader, &mut header, 0)
            .map_err(|e| InterpreterError::io("reading", path, e))?;
        Self::from_header(&header[..len]).ok_or_else(|| InterpreterError::NotElf {
            path: path.into(),
            reason: "no ELF identification".into(),
        })
    }

    /// Decodes the first 20 bytes of an ELF header (`e_ident` plus `e_type` and `e_machine`).
    ///
    /// Returns `None` when the bytes are not an ELF header with a known class and byte order.
    pub fn from_header(header: &[u8]) -> Option<Self> {
        let ident = header.get(..20)?;
        if ident[..4] != *b"\x7fELF" {
            return None;
        }
        let class = match ident[EI_CLASS] {
            ELFCLASS32 => ElfClass::Elf32,
            ELFCLASS64 => ElfClass::Elf64,
            _ => return None,
        };
        let bytes = [ident[18], ident[19]];
        let (endian, machine) = match ident[EI_DATA] {
            ELFDATA2LSB => (Endianness::Little, u16::from_le_bytes(bytes)),
            ELFDATA2MSB => (Endianness::Big, u16::from_be_bytes(bytes)),
            _ => return None,
        };
        Some(Self {
            machine,
            class,
            endian,
        })
    }
}

impl fmt::Display for HostMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = goblin::elf::header::machine_to_str(self.machine).to_ascii_lowercase();
        let bits = match self.class {
            ElfClass::Elf32 => 32,
            ElfClass::Elf64 => 64,
        };
        let endian = match self.endian {
            Endianness::Little => "little",
            Endianness::Big => "big",
        };
        write!(
            f,
            "{name} (e_machine {}, {bits}-bit {endian}-endian)",
            self.machine
        )
    }
}
