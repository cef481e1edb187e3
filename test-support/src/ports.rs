//! Free loopback ports for test servers.
//!
//! The OS picks a port when we bind `127.0.0.1:0`; we drop the listener and hand
//! the number to a server. Two tests in one process could otherwise be told the
//! same port in quick succession, so ports handed out by this process are
//! remembered and never handed out twice. A different process can still race us
//! for a port; server starts retry on "address already in use" for that.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, PoisonError};

use crate::error::{HarnessError, Result};

/// Ports already given to a server by this process.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Returns a loopback TCP port that was free a moment ago and that this process
/// has not handed out before.
pub fn free_port() -> Result<u16> {
    // A bounded number of tries: the OS cycles through ephemeral ports, so a
    // repeat is rare and a handful of attempts always suffices in practice.
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("bind 127.0.0.1:0 to find a free port", e))?;
        let port =
            listener.local_addr().map_err(|e| HarnessError::io("read local address of probe listener", e))?.port();
        drop(listener);
        let mut guard = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(HarnessError::io(
        "find a free loopback port",
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "64 candidates were all taken"),
    ))
}
