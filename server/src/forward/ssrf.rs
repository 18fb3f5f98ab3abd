//! The SSRF guard: which addresses are public, and a DNS resolver that refuses the others.
//!
//! Guarantees: the check runs on the addresses the connection will actually use (inside the
//! resolver, so a DNS answer that changes between check and connect cannot slip through);
//! IPv6 is allowed only in global unicast `2000::/3` minus special ranges, and IPv4 embedded in
//! IPv6 (mapped, NAT64, 6to4) is judged as the IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Whether `ip` is a public unicast address a connector may reach without `allow_private`.
///
/// Refused IPv4: `0/8` (unspecified, "this network"), `10/8`, `100.64/10` (CGNAT), `127/8`,
/// `169.254/16`, `172.16/12`, `192.0.0/24`, `192.0.2/24`, `192.88.99/24`, `192.168/16`,
/// `198.18/15`, `198.51.100/24`, `203.0.113/24`, `224/4` (multicast), `240/4` (reserved and
/// broadcast). Refused IPv6: everything outside `2000::/3` (loopback, unspecified, `fc00::/7`,
/// `fe80::/10`, multicast…) except `::ffff:0:0/96` and `64:ff9b::/96`, which are judged by the
/// IPv4 address they embed; inside `2000::/3`: `2001::/23` (IETF special, Teredo…),
/// `2001:db8::/32`, `3fff::/20` (documentation); `2002::/16` (6to4) is judged by its IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] & 0xe000 != 0x2000 {
        // Outside global unicast 2000::/3.
        return false;
    }
    if s[0] == 0x2001 && s[1] < 0x0200 {
        return false; // 2001::/23
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return false; // 2001:db8::/32
    }
    if s[0] & 0xfff0 == 0x3ff0 {
        return false; // 3fff::/20
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2])); // 6to4
    }
    true
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// The IP of a URL host written as a literal (`http://10.0.0.1`, `http://[::1]`, and the
/// shorthand forms `127.1` or `0x7f.1` the URL parser normalizes). The HTTP connector never
/// resolves these, so they must be checked before sending.
pub fn literal_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(_) => None,
    }
}

/// The resolver refused a name because an address it resolves to is not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrfRefused {
    /// The host name.
    pub host: String,
    /// The first non-public address it resolved to.
    pub ip: IpAddr,
}

impl fmt::Display for SsrfRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host {} resolves to non-public address {} (allow_private is false)",
            self.host, self.ip
        )
    }
}

impl std::error::Error for SsrfRefused {}

/// The forwarder's resolver (a hyper-util `HttpConnector` resolver service) that resolves with tokio and, unless `allow_private`, refuses a name
/// when **any** of its addresses is not public (all-or-nothing, so a mixed answer is a clear
/// error rather than a silent choice). Resolution is bounded by `timeout`.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow_private: bool,
    timeout: Duration,
}

impl GuardedResolver {
    /// A resolver with the given policy and lookup timeout.
    pub fn new(allow_private: bool, timeout: Duration) -> Self {
        GuardedResolver {
            allow_private,
            timeout,
        }
    }

    /// Resolve `host` and apply the policy.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, std::io::Error> {
        use std::io::{Error, ErrorKind};
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0))).await {
                Ok(r) => r?.collect(),
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::TimedOut,
                        format!("resolving {host} timed out"),
                    ))
                }
            };
        if addrs.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{host} has no addresses"),
            ));
        }
        if !self.allow_private {
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    SsrfRefused {
                        host: host.to_owned(),
                        ip: bad.ip(),
                    },
                ));
            }
        }
        Ok(addrs)
    }
}

/// What [`GuardedResolver`] answers when used as the connector's resolver service.
pub type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.lookup(name.as_str()).await?;
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip(s)), "{s} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn url_shorthand_ips_are_literals() {
        for u in [
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://[::ffff:7f00:1]/",
            "http://0/",
        ] {
            let url = url::Url::parse(u).expect("url");
            let host = url.host().expect("host");
            let got = literal_ip(&host).expect("literal");
            assert!(!is_public(got), "{u} -> {got}");
        }
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_resolver() {
        let strict = GuardedResolver::new(false, Duration::from_secs(2));
        let e = strict.lookup("localhost").await.expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("non-public"), "{e}");
        let lax = GuardedResolver::new(true, Duration::from_secs(2));
        let addrs = lax.lookup("localhost").await.expect("allowed");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
