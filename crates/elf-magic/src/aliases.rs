//! The names people use for a target besides QEMU's: Debian architectures, OCI/Docker platforms
//! and what `uname -m` prints.
//!
//! Several targets share some of these names (every MIPS kernel prints `mips` or `mips64`
//! whatever its byte order); `parse.rs` documents how such a name resolves.

use crate::target::Target;

impl Target {
    /// The Debian (dpkg) architecture whose binaries this target runs, if Debian has one:
    /// `arm64`, `armhf` (for [`Target::Arm`]), `ppc64el`, `mips64el`, `loong64`, `i386`, `amd64`…
    ///
    /// The first of [`Target::debian_arches`].
    pub fn debian_arch(self) -> Option<&'static str> {
        self.debian_arches().first().copied()
    }

    /// Every dpkg architecture whose binaries this target runs, the main one first: [`Target::Arm`]
    /// has `armhf` and `armel`, the MIPS targets also have their R6 architectures (`mips64r6el`…),
    /// whose files match the same rows. Ports that only exist in dpkg's tables (`sh4eb`, `or1k`,
    /// `armeb`) are included; empty where dpkg has none.
    pub fn debian_arches(self) -> &'static [&'static str] {
        match self {
            Target::I386 => &["i386"],
            Target::I486 => &[],
            Target::X86_64 => &["amd64"],
            Target::Alpha => &["alpha"],
            Target::Arm => &["armhf", "armel"],
            Target::Armeb => &["armeb"],
            Target::Sparc => &["sparc"],
            Target::Sparc32plus => &[],
            Target::Sparc64 => &["sparc64"],
            Target::Ppc => &["powerpc"],
            Target::Ppc64 => &["ppc64"],
            Target::Ppc64le => &["ppc64el"],
            Target::M68k => &["m68k"],
            Target::Mips => &["mips", "mipsr6"],
            Target::Mipsel => &["mipsel", "mipsr6el"],
            Target::Mipsn32 => &["mipsn32", "mipsn32r6"],
            Target::Mipsn32el => &["mipsn32el", "mipsn32r6el"],
            Target::Mips64 => &["mips64", "mips64r6"],
            Target::Mips64el => &["mips64el", "mips64r6el"],
            Target::Sh4 => &["sh4"],
            Target::Sh4eb => &["sh4eb"],
            Target::S390x => &["s390x"],
            Target::Aarch64 => &["arm64"],
            Target::Aarch64Be => &[],
            Target::Hppa => &["hppa"],
            Target::Riscv32 => &[],
            Target::Riscv64 => &["riscv64"],
            Target::Xtensa | Target::Xtensaeb => &[],
            Target::Microblaze | Target::Microblazeel => &[],
            Target::Or1k => &["or1k"],
            Target::Hexagon => &[],
            Target::Loongarch64 => &["loong64"],
        }
    }

    /// OCI image platforms (`os/arch[/variant]`, as Docker and BuildKit spell them) whose images
    /// this target runs, canonical first; empty where no platform string exists.
    ///
    /// The architectures are Go's `GOARCH` values; `linux/ppc` and `linux/riscv32` are not Go
    /// ports but are used by image builders for those targets.
    pub fn platforms(self) -> &'static [&'static str] {
        match self {
            Target::I386 => &["linux/386"],
            Target::X86_64 => &[
                "linux/amd64",
                "linux/amd64/v2",
                "linux/amd64/v3",
                "linux/amd64/v4",
            ],
            Target::Arm => &["linux/arm/v7", "linux/arm/v6", "linux/arm/v5", "linux/arm"],
            Target::Aarch64 => &["linux/arm64", "linux/arm64/v8"],
            Target::Ppc => &["linux/ppc"],
            Target::Ppc64 => &["linux/ppc64"],
            Target::Ppc64le => &["linux/ppc64le"],
            Target::Mips => &["linux/mips"],
            Target::Mipsel => &["linux/mipsle"],
            Target::Mips64 => &["linux/mips64"],
            Target::Mips64el => &["linux/mips64le"],
            Target::S390x => &["linux/s390x"],
            Target::Riscv32 => &["linux/riscv32"],
            Target::Riscv64 => &["linux/riscv64"],
            Target::Loongarch64 => &["linux/loong64"],
            _ => &[],
        }
    }

    /// What `uname -m` prints on a native kernel or under this target's QEMU, most common first.
    ///
    /// Byte order is invisible here for MIPS, Xtensa and MicroBlaze (their kernels and QEMU print
    /// the same string for both), and MIPS n32 processes see `mips64`. [`Target::I486`] has none
    /// of its own: `qemu-i386` prints `i686`, which belongs to [`Target::I386`].
    pub fn uname_machines(self) -> &'static [&'static str] {
        match self {
            Target::I386 => &["i686", "i586", "i486", "i386"],
            Target::I486 => &[],
            Target::X86_64 => &["x86_64"],
            Target::Alpha => &["alpha"],
            Target::Arm => &["armv7l", "armv6l", "armv5tel", "armv5tejl", "armv8l", "arm"],
            Target::Armeb => &["armv7b", "armv6b", "armv5teb", "armv8b", "armeb"],
            Target::Sparc => &["sparc"],
            // QEMU's sparc32plus is a SPARC64 CPU running the 32-bit ABI: it prints `sparc64`,
            // as a 64-bit kernel does for 32-bit processes unless run under `linux32`.
            Target::Sparc32plus => &["sparc64", "sparc"],
            Target::Sparc64 => &["sparc64"],
            Target::Ppc => &["ppc"],
            Target::Ppc64 => &["ppc64"],
            Target::Ppc64le => &["ppc64le"],
            Target::M68k => &["m68k"],
            Target::Mips | Target::Mipsel => &["mips"],
            Target::Mipsn32 | Target::Mipsn32el | Target::Mips64 | Target::Mips64el => &["mips64"],
            Target::Sh4 => &["sh4"],
            Target::Sh4eb => &["sh4eb"],
            Target::S390x => &["s390x"],
            Target::Aarch64 => &["aarch64"],
            Target::Aarch64Be => &["aarch64_be"],
            // Debian's hppa userland runs on 32-bit (`parisc`) and 64-bit (`parisc64`) kernels.
            Target::Hppa => &["parisc", "parisc64"],
            Target::Riscv32 => &["riscv32"],
            Target::Riscv64 => &["riscv64"],
            Target::Xtensa | Target::Xtensaeb => &["xtensa"],
            Target::Microblaze | Target::Microblazeel => &["microblaze"],
            Target::Or1k => &["openrisc"],
            Target::Hexagon => &["hexagon"],
            Target::Loongarch64 => &["loongarch64"],
        }
    }

    /// Every name this target answers to, deduplicated, in this order: [`Target::name`],
    /// [`Target::debian_arches`], [`Target::platforms`], [`Target::uname_machines`].
    ///
    /// Parsing also accepts spellings derived from these: any letter case, `qemu-<name>` and
    /// `qemu-<name>-static`, and a platform without its `linux/` prefix (`arm64`, `arm/v7`, `386`).
    /// A name shared by several targets parses to one of them; see [`Target::from_str`]
    /// (`std::str::FromStr`) for the rule.
    ///
    /// [`Target::from_str`]: std::str::FromStr::from_str
    pub fn names(self) -> Vec<&'static str> {
        let mut names = vec![self.name()];
        let aliases = self
            .debian_arches()
            .iter()
            .chain(self.platforms())
            .chain(self.uname_machines());
        for &alias in aliases {
            if !names.contains(&alias) {
                names.push(alias);
            }
        }
        names
    }
}
