//! The process's allocator: mimalloc, unless the `system-allocator` feature asks for glibc
//! malloc (for heap profilers that hook malloc, such as heaptrack or valgrind).
//!
//! mimalloc instead of glibc malloc: the API server allocates many short-lived JSON values
//! across threads, where glibc's per-thread arenas fragment (measured: about 40% less RSS and
//! less time in the allocator; see BENCHMARKS.md).

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc settings for a long-lived, mostly idle process such as `skiff agent`, which
/// cares more about its resident memory than about allocation speed (the API server keeps
/// mimalloc's defaults, which are faster under load):
///
/// - `MIMALLOC_PURGE_DELAY=0`: freed memory goes back to the OS as soon as a page empties.
///   The default delayed purge only runs on later allocator activity, so memory freed after
///   a burst of work (start-up, a wave of pods) stays resident while the process idles.
/// - `MIMALLOC_ARENA_EAGER_COMMIT=0`: the arena is committed as it is used instead of up
///   front. An eagerly committed arena is advised for transparent huge pages, so a few live
///   objects pin whole 2 MiB pages.
///
/// Measured on an idle agent: 28 MiB of anonymous memory with the defaults, 12 MiB with the
/// prompt purge alone, 3 MiB with both (BENCHMARKS.md, node agent).
pub const FOR_MOSTLY_IDLE: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// Makes this process run with [`FOR_MOSTLY_IDLE`]: mimalloc reads its options from the
/// environment when the process starts, so unless they are set already (by an earlier call
/// or by the user, whose values win) this replaces the process with itself — same pid, same
/// arguments — with them added to its environment. Returns only if it did not re-execute
/// (the options were set, or the system allocator is in use, or `exec` failed).
pub fn for_mostly_idle_process() {
    if cfg!(feature = "system-allocator")
        || FOR_MOSTLY_IDLE
            .iter()
            .any(|(name, _)| std::env::var_os(name).is_some())
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .envs(FOR_MOSTLY_IDLE);
    let err = std::os::unix::process::CommandExt::exec(&mut command);
    eprintln!("skiff: running with mimalloc's default settings (re-executing failed: {err})");
}
