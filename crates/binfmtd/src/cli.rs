//! Command-line definition: clap types only, no behaviour.
//!
//! Two spellings reach the same commands:
//! - binfmtd's own subcommands (`binfmtd install arm64`, `binfmtd status --json`, …);
//! - tonistiigi/binfmt's flags, so the container image is a drop-in (`--install all`,
//!   `--install arm64,riscv64`, `--uninstall qemu-*`, `--version`, `--mount DIR`, and no arguments at
//!   all for the JSON status). Go's flag package also accepts one dash (`-install`);
//!   [`normalize_args`] rewrites those before clap sees them.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// binfmtd: run foreign-architecture binaries through QEMU, registered in binfmt_misc.
#[derive(Debug, Parser)]
#[command(name = "binfmtd", about, long_about = None, disable_version_flag = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do; without one (and without --install/--uninstall) print the JSON status.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// tonistiigi/binfmt compatibility: install emulators (comma-separated names, or `all`).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub install: Option<Vec<String>>,

    /// tonistiigi/binfmt compatibility: remove entries (comma-separated names, targets or globs).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub uninstall: Option<Vec<String>>,

    /// Print binfmtd's version and the version of the QEMU it would register.
    #[arg(short = 'V', long)]
    pub version: bool,
}

impl Cli {
    /// Parses the command line (after [`normalize_args`]). Global options may come before or
    /// after the command (`binfmtd --mount DIR install`, `binfmtd install --mount DIR`); mixing
    /// tonistiigi's `--install`/`--uninstall` with a command is a usage error.
    pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
        let cli = Cli::try_parse_from(normalize_args(args))?;
        if cli.command.is_some()
            && (cli.install.is_some() || cli.uninstall.is_some() || cli.version)
        {
            return Err(<Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--install/--uninstall cannot be combined with a command: use either \
                 `binfmtd --install LIST` or `binfmtd install TARGET...`",
            ));
        }
        Ok(cli)
    }

    /// An option given to the command that does not take it, for which the right command is
    /// known: the one-line refusal naming it (exit 2), instead of clap's usage text.
    pub fn misplaced(&self) -> Option<&'static str> {
        match &self.command {
            Some(Command::Install(a)) if a.check => Some(
                "install has no --check: `binfmtd plan --check` reports what install would \
                 change and exits 1 if anything, changing nothing",
            ),
            Some(Command::Plan(a)) if a.persist.is_some() => Some(
                "plan has no --persist: `binfmtd install --persist` installs and persists; plan \
                 changes nothing, so there is nothing to persist",
            ),
            _ => None,
        }
    }
}

/// Options accepted before or after any command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print machine-readable JSON on stdout (progress and errors stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Where binfmt_misc is (or is to be) mounted.
    #[arg(long, global = true, value_name = "DIR", default_value = binfmt_misc::DEFAULT_MOUNT)]
    pub mount: PathBuf,

    /// Read exactly this configuration file (default: /etc/binfmtd/binfmtd.toml and
    /// /etc/binfmtd/binfmtd.d/*.toml when present, else the built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Flags for the entries, overriding the configuration: any of P, O, C, F (e.g. `PF`, `OCF`).
    #[arg(long, global = true, value_name = "FLAGS")]
    pub flags: Option<String>,

    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Register emulators (default: `all` non-native targets with a usable interpreter).
    Install(InstallArgs),
    /// Remove entries binfmtd registered (`all`, or the given targets/entry names).
    Uninstall(UninstallArgs),
    /// Show what the kernel has now: every entry, who owns it, overlaps, and per target whether
    /// it is native, emulated or unavailable.
    Status,
    /// Execute a tiny probe for each target through the live binfmt_misc entries, from this
    /// process's view, and report whether it works (through which entry), is native, or fails
    /// (why, and the fix). Exits 1 unless every target works or is native.
    Check(CheckArgs),
    /// Show what `install` would change, changing nothing.
    Plan(PlanArgs),
    /// Print the built-in magic/mask table.
    Table,
    /// Run as a daemon: register, then keep the entries registered (systemd Type=notify).
    Daemon(DaemonArgs),
    /// Run COMMAND with emulators in a private binfmt_misc, without root (Linux >= 6.7).
    ///
    /// COMMAND runs in a new user and mount namespace, as its root unless --keep-id, with
    /// binfmt_misc mounted privately at --mount; the host's registrations are never touched and
    /// the private ones vanish when the namespace ends. Exits with COMMAND's status, or 125 if
    /// binfmtd failed, 126 if COMMAND cannot be executed, 127 if it is not found.
    Exec(ExecArgs),
    /// Internal: exit 0 if TARGET's probe executable runs natively (used by binfmtd itself).
    #[command(hide = true)]
    ProbeNative {
        /// The target to probe.
        target: String,
    },
}

/// Arguments of `install`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Target names (`aarch64`, `arm64`, `linux/arm/v7`, `qemu-riscv64`, …) or `all`
    /// (default: the configuration's `targets`).
    #[arg(value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<String>,

    /// Take over other tools' entries for these targets (as `others = "replace"` for this run).
    #[arg(long)]
    pub force: bool,

    /// From the container image: also install binfmtd, the interpreters, a configuration
    /// drop-in and the systemd unit under the host's root mounted at HOST_ROOT (`-v /:/host`),
    /// and enable the service, so the entries come back after a reboot.
    #[arg(long, value_name = "HOST_ROOT", num_args = 0..=1, require_equals = true,
          default_missing_value = "/host")]
    pub persist: Option<PathBuf>,

    /// Accepted only to be refused in one line pointing at `plan --check` ([`Cli::misplaced`]).
    #[arg(long, hide = true)]
    pub check: bool,
}

/// Arguments of `plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Target names or `all` (default: the configuration's `targets`).
    #[arg(value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<String>,

    /// Plan as `install --force` would.
    #[arg(long)]
    pub force: bool,

    /// Exit 1 when `install` would change anything, or when something is wrong (a failing
    /// entry, a disabled binfmt_misc): readiness probes, CI gates.
    #[arg(long)]
    pub check: bool,

    /// Accepted only to be refused in one line pointing at `install --persist`
    /// ([`Cli::misplaced`]).
    #[arg(long, hide = true, value_name = "HOST_ROOT", num_args = 0..=1, require_equals = true,
          default_missing_value = "/host")]
    pub persist: Option<PathBuf>,
}

/// Arguments of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Target names (`aarch64`, `arm64`, `linux/arm/v7`, `qemu-riscv64`, …) or `all` (default:
    /// every target; native ones report `native`).
    #[arg(value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<String>,
}

/// Arguments of `uninstall`.
#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Targets, entry names or globs (`qemu-*`), or `all` (default: all of binfmtd's entries).
    #[arg(value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<String>,

    /// Also remove matching entries that other tools registered.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `daemon`.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Remove binfmtd's entries when the daemon stops (default: leave them registered).
    #[arg(long)]
    pub remove_on_stop: bool,
}

/// Arguments of `exec`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Emulate only these targets (repeat or comma-separate; default: every non-native target
    /// with a readable interpreter).
    #[arg(
        long = "target",
        short = 't',
        value_name = "TARGET",
        value_delimiter = ','
    )]
    pub targets: Vec<String>,

    /// Run COMMAND as your own uid and gid instead of as root of the namespace; it then has no
    /// capabilities (no chroot, no mount).
    #[arg(long)]
    pub keep_id: bool,

    /// The program to run, and its arguments (put `--` before them).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// Rewrites Go-style single-dash long flags of tonistiigi/binfmt (`-install`, `-uninstall`,
/// `-version`, `-mount`, also with `=value`) into the double-dash form clap expects. Nothing after
/// `--` or `exec` is touched: that is another program's command line.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const GO_FLAGS: [&str; 4] = ["install", "uninstall", "version", "mount"];
    let mut verbatim = false;
    args.into_iter()
        .map(|arg| {
            if verbatim || arg == "--" || arg == "exec" {
                verbatim = true;
                return arg;
            }
            let Some(text) = arg.to_str() else { return arg };
            let Some(rest) = text.strip_prefix('-').filter(|r| !r.starts_with('-')) else {
                return arg;
            };
            let name = rest.split_once('=').map_or(rest, |(n, _)| n);
            if GO_FLAGS.contains(&name) {
                OsString::from(format!("-{text}"))
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        let argv = normalize_args(
            std::iter::once("binfmtd")
                .chain(args.iter().copied())
                .map(OsString::from),
        );
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_means_status_json() {
        let cli = parse(&[]);
        assert!(cli.command.is_none() && cli.install.is_none() && cli.uninstall.is_none());
    }

    #[test]
    fn tonistiigi_install_forms() {
        assert_eq!(
            parse(&["--install", "all"]).install,
            Some(vec!["all".to_string()])
        );
        assert_eq!(
            parse(&["--install=arm64,riscv64"]).install,
            Some(vec!["arm64".to_string(), "riscv64".to_string()])
        );
        assert_eq!(
            parse(&["-install", "arm64"]).install,
            Some(vec!["arm64".to_string()])
        );
    }

    #[test]
    fn tonistiigi_uninstall_and_mount() {
        let cli = parse(&["--uninstall", "qemu-aarch64,qemu-*", "-mount", "/tmp/bm"]);
        assert_eq!(
            cli.uninstall,
            Some(vec!["qemu-aarch64".to_string(), "qemu-*".to_string()])
        );
        assert_eq!(cli.global.mount, PathBuf::from("/tmp/bm"));
    }

    #[test]
    fn version_flag_is_recognised() {
        assert!(parse(&["-version"]).version);
        assert!(parse(&["--version"]).version);
        assert!(parse(&["-V"]).version);
    }

    #[test]
    fn subcommands_with_global_options() {
        let cli = parse(&[
            "install",
            "arm64",
            "linux/arm/v7",
            "--flags",
            "OCF",
            "--json",
        ]);
        match cli.command {
            Some(Command::Install(t)) => assert_eq!(t.targets, ["arm64", "linux/arm/v7"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.global.flags.as_deref(), Some("OCF"));
        assert!(cli.global.json);
        assert!(matches!(parse(&["status"]).command, Some(Command::Status)));
        match parse(&["check", "arm64,riscv64", "s390x", "--json"]).command {
            Some(Command::Check(c)) => assert_eq!(c.targets, ["arm64", "riscv64", "s390x"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["plan", "all"]).command,
            Some(Command::Plan(_))
        ));
        let cli = parse(&["uninstall", "--force", "qemu-*"]);
        assert!(matches!(
            cli.command,
            Some(Command::Uninstall(UninstallArgs { force: true, .. }))
        ));
    }

    #[test]
    fn negative_numbers_and_paths_are_left_alone() {
        let argv = normalize_args(["binfmtd", "-v", "-q", "-installx"].map(OsString::from));
        assert_eq!(
            argv,
            ["binfmtd", "-v", "-q", "-installx"].map(OsString::from)
        );
    }

    #[test]
    fn exec_takes_the_rest_verbatim() {
        let cli = parse(&[
            "exec",
            "--target",
            "arm64,riscv64",
            "-t",
            "s390x",
            "--keep-id",
            "--",
            "sh",
            "-c",
            "exit 7",
            "-install",
            "--mount",
        ]);
        match cli.command {
            Some(Command::Exec(e)) => {
                assert_eq!(e.targets, ["arm64", "riscv64", "s390x"]);
                assert!(e.keep_id);
                assert_eq!(
                    e.command,
                    ["sh", "-c", "exit 7", "-install", "--mount"].map(OsString::from)
                );
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["--mount", "/tmp/bm", "exec", "uname", "-m"]);
        match cli.command {
            Some(Command::Exec(e)) => assert_eq!(e.command, ["uname", "-m"].map(OsString::from)),
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.global.mount, PathBuf::from("/tmp/bm"));
        // A missing COMMAND is exec's own error (exit 125), not clap's (exit 2).
        let cli = parse(&["exec"]);
        assert!(matches!(cli.command, Some(Command::Exec(e)) if e.command.is_empty()));
    }

    #[test]
    fn subcommand_and_compat_flag_conflict() {
        let argv = ["binfmtd", "--install", "all", "status"].map(OsString::from);
        let err = Cli::parse_args(argv).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn global_options_before_the_command() {
        let argv = [
            "binfmtd", "--mount", "/tmp/bm", "--json", "install", "--force", "arm64",
        ];
        let cli = Cli::parse_args(argv.map(OsString::from)).unwrap();
        assert_eq!(cli.global.mount, PathBuf::from("/tmp/bm"));
        assert!(cli.global.json);
        match cli.command {
            Some(Command::Install(t)) => assert!(t.force && t.targets == ["arm64"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plan_and_install_take_only_their_own_options() {
        // Parsed, then refused in one line naming the other command (clap's would be 7 lines).
        let refusal = parse(&["install", "--check", "arm64"]).misplaced().unwrap();
        assert!(refusal.contains("plan --check") && !refusal.contains('\n'));
        let refusal = parse(&["plan", "--persist", "arm64"]).misplaced().unwrap();
        assert!(refusal.contains("install --persist"));
        assert!(parse(&["plan", "--check", "arm64"]).misplaced().is_none());
        assert!(
            parse(&["install", "--persist", "arm64"])
                .misplaced()
                .is_none()
        );
    }
}
