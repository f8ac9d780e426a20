//! This machine's names and addresses, to recognise the node kubedrill itself runs on.

use std::net::IpAddr;

/// The host name (`gethostname`), if any.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// Every non-loopback IP address of this machine's interfaces.
pub fn local_ips() -> Vec<IpAddr> {
    let mut ips = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and free exactly once.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return ips;
        }
        let mut cur = head;
        while !cur.is_null() {
            if let Some(ip) = sockaddr_ip((*cur).ifa_addr) {
                if !ip.is_loopback() {
                    ips.push(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    ips
}

/// SAFETY: `addr` is null or points to a sockaddr of the family it declares.
unsafe fn sockaddr_ip(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    match i32::from((*addr).sa_family) {
        libc::AF_INET => {
            let a = &*(addr as *const libc::sockaddr_in);
            Some(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            let a = &*(addr as *const libc::sockaddr_in6);
            Some(IpAddr::from(a.sin6_addr.s6_addr))
        }
        _ => None,
    }
}
