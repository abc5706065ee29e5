//! The live run's network: a Linux network namespace for each simulated host, with one
//! device, `eth0`, a TAP whose other end is a file descriptor vpclab holds. A frame a program
//! in the namespace sends is read by vpclab; a frame vpclab writes arrives on `eth0`.
//!
//! Nothing here touches the host's network namespace: each TAP device is created from a
//! thread that has entered the host's namespace first (`setns`), so it is born there, and a
//! namespace's only link is that device. The namespaces' names are `vpclab-PID-HOST`, so a
//! user can `ip netns exec` into one while the run lasts, and a later run can tell (by the
//! PID) which ones a crashed run left behind and remove them ([`remove_stale`]).
//!
//! Set-up uses iproute2's `ip` (namespaces, addresses, routes), which live mode's users have
//! anyway; the TAP devices are made with the `TUNSETIFF` ioctl (Linux's
//! Documentation/networking/tuntap.rst), since `ip tuntap` cannot hand over the descriptor.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use pnet_base::MacAddr;

/// The start of every namespace name live mode makes.
pub const PREFIX: &str = "vpclab-";
const NETNS_DIR: &str = "/run/netns";

/// What a namespace is given: its addresses (address, prefix length), the first the
/// primary, and the router its default route goes through (None: every destination is
/// on-link, as for a host on the internet, whose first hop is the simulator anyway).
#[derive(Clone, Debug)]
pub struct Plan {
    /// The simulated host's name in the scenario.
    pub name: String,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub gateway: Option<Ipv4Addr>,
    /// `eth0`'s MTU: the simulated interface's (aws instances 9001; docs/decisions/mtu.md),
    /// so that a real stack sends what the simulated one would and learns a path's MTU from
    /// the simulator's fragmentation-needed.
    pub mtu: u16,
}

/// One simulated host's namespace and vpclab's end of its device.
pub struct Host {
    pub netns: String,
    /// `eth0`'s MAC address in the namespace: frames to it are addressed there.
    pub mac: MacAddr,
    pub tap: File,
}

/// The namespaces of one run; dropping it removes them (and the devices with them).
pub struct Lab {
    pub hosts: Vec<Host>,
    made: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Close the devices first: a namespace goes away once nothing holds it.
        self.hosts.clear();
        for name in self.made.drain(..) {
            remove(&name);
        }
    }
}

/// Whether this process may make namespaces and devices: CAP_NET_ADMIN for the devices and
/// addresses, CAP_SYS_ADMIN for the mount `ip netns add` makes (capabilities(7)).
pub fn check_privileges() -> Result<(), String> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| effective & (1 << cap) != 0;
    if has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(
            "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make network namespaces; \
             run it with sudo"
                .into(),
        )
    }
}

/// Removes the namespaces of runs that are gone (killed, crashed): those whose name carries
/// the PID of a process that no longer exists or is not vpclab. Returns their names.
pub fn remove_stale() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut stale: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            let Some(pid) = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                return false;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            pid != std::process::id() && comm.trim() != "vpclab"
        })
        .collect();
    stale.sort();
    for name in &stale {
        remove(name);
    }
    stale
}

/// Makes one namespace per plan, each with its `eth0`, addresses and default route.
pub fn build(plans: &[Plan]) -> Result<Lab, String> {
    let pid = std::process::id();
    let mut lab = Lab {
        hosts: Vec::new(),
        made: Vec::new(),
    };
    for (i, plan) in plans.iter().enumerate() {
        let mut netns = format!("{PREFIX}{pid}-{}", sanitize(&plan.name));
        if lab.made.contains(&netns) {
            netns = format!("{netns}-{i}");
        }
        ip(&["netns", "add", &netns], None)?;
        lab.made.push(netns.clone());
        let tap = open_tap_in(&netns).map_err(|e| format!("{netns}: TAP device: {e}"))?;
        let index = i as u16 + 1;
        let mac = MacAddr(0x02, 0x76, 0x6c, 0x00, (index >> 8) as u8, index as u8);
        let mut script = vec![
            "link set dev lo up".to_string(),
            format!("link set dev eth0 address {mac}"),
            format!("link set dev eth0 mtu {}", plan.mtu),
            "link set dev eth0 up".to_string(),
        ];
        for (addr, len) in &plan.addresses {
            script.push(format!("address add {addr}/{len} dev eth0"));
        }
        script.push(match plan.gateway {
            Some(gw) => format!("route add default via {gw} dev eth0"),
            None => "route add default dev eth0".to_string(),
        });
        ip(
            &["-n", &netns, "-batch", "-"],
            Some(&(script.join("\n") + "\n")),
        )?;
        lab.hosts.push(Host { netns, mac, tap });
    }
    Ok(lab)
}

/// A command that runs `argv` inside namespace `netns`.
pub fn command_in(netns: &str, argv: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", netns]).args(argv);
    c
}

/// Names are the scenario's; a namespace name keeps letters, digits, `-` and `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// Kills what still runs in namespace `name` and removes it.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) with a PID read from the namespace; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

/// Runs `ip ARGS`, with `input` on its standard input if given (`-batch -`).
fn ip(args: &[&str], input: Option<&str>) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    let failed = |e: String| format!("`ip {}`: {e}", args.join(" "));
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// `_IOW('T', 202, int)` (linux/if_tun.h), the same on x86_64 and aarch64; libc lacks it.
const TUNSETIFF: u64 = 0x4004_54ca;

/// The `ifreq` of `TUNSETIFF`: a device name and flags, padded to the kernel's 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Opens a TAP device named `eth0` inside namespace `netns`, non-blocking. A thread of its own
/// enters the namespace, so the device is created there and this process's namespace (the
/// host's) never sees it; the descriptor keeps working from any namespace.
fn open_tap_in(netns: &str) -> io::Result<File> {
    let path = format!("{NETNS_DIR}/{netns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = File::open(&path)?;
            // SAFETY: setns(2) on a namespace file we opened; it changes this thread only,
            // which ends when this closure returns.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let tap = OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")?;
            let mut req = IfReq {
                name: [0; libc::IFNAMSIZ],
                flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
                _pad: [0; 22],
            };
            req.name[..4].copy_from_slice(b"eth0");
            // SAFETY: TUNSETIFF reads and writes an ifreq, which `req` is laid out as.
            if unsafe { libc::ioctl(tap.as_raw_fd(), TUNSETIFF as _, &mut req) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fcntl(2) on a descriptor we own.
            unsafe {
                let flags = libc::fcntl(tap.as_raw_fd(), libc::F_GETFL);
                if flags < 0
                    || libc::fcntl(tap.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // IPv6 is not simulated: no router solicitations or neighbour discovery.
            for conf in ["all", "default", "eth0"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1");
            }
            Ok(tap)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread making the device panicked")))
    })
}
