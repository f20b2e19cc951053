//! The pure part of the HTTP policy: host patterns (`api.example.com`, `*.example.org`), CIDR lists, and which
//! IP addresses count as public. No I/O here; the sender ([`super::send`]) applies these after DNS resolution.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One entry of a plugin's `http` allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host name (lowercase, no trailing dot).
    Name(String),
    /// Any subdomain of this name (`*.example.org`: `a.example.org`, `b.a.example.org`, not `example.org`).
    Subdomains(String),
    /// Exactly this IP address (a URL naming the address literally).
    Ip(IpAddr),
}

/// What a valid pattern looks like, for error messages.
const PATTERN_HELP: &str = "expected a host name like `api.example.com`, `*.example.org` or an IP address, without \
                            scheme, port or path";

impl HostPattern {
    /// Parse one allowlist entry.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(ip) = parse_ip_literal(&lower) {
            return Ok(HostPattern::Ip(canonical(ip)));
        }
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        match lower.strip_prefix("*.") {
            Some(rest) if is_host_name(rest) && rest.contains('.') => Ok(HostPattern::Subdomains(rest.to_string())),
            Some(_) => Err(format!(
                "{text:?}: `*.` must be followed by a domain with at least two labels ({PATTERN_HELP})"
            )),
            None if is_host_name(lower) => Ok(HostPattern::Name(lower.to_string())),
            None => Err(format!("{text:?}: {PATTERN_HELP}")),
        }
    }

    /// Whether a URL host (as written in the URL) is covered by this pattern.
    pub fn matches(&self, host: &str) -> bool {
        match (self, parse_ip_literal(host)) {
            (HostPattern::Ip(ip), Some(addr)) => *ip == canonical(addr),
            (HostPattern::Ip(_), None) | (_, Some(_)) => false,
            (HostPattern::Name(name), None) => normalize_host(host) == *name,
            (HostPattern::Subdomains(domain), None) => {
                let host = normalize_host(host);
                host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Name(name) => f.write_str(name),
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A host as compared with patterns: lowercase, without a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let lower = host.to_ascii_lowercase();
    lower.strip_suffix('.').unwrap_or(&lower).to_string()
}

/// An IP address written as a URL host (`127.0.0.1`, `[::1]`, `::1`).
pub fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let inner = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    inner.parse().ok()
}

/// Letters, digits and `-` in dot-separated labels of 1–63 characters, 253 at most in all.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// An address block from `http_limits.allow_private`: `127.0.0.1`, `10.0.0.0/8`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse an address (a one-address block) or `address/prefix`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block (like `127.0.0.1` or `10.0.0.0/8`)"))?;
        let network = canonical(network);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("{text:?}: the prefix length must be a number from 0 to {max}")),
            },
        };
        if mask(network, prefix) != network {
            return Err(format!(
                "{text:?} has bits set past its /{prefix} prefix (did you mean {}/{prefix}?)",
                mask(network, prefix)
            ));
        }
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is inside this block (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    mask(IpAddr::V4(ip), prefix) == IpAddr::V4(Ipv4Addr::from(net))
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u8) -> bool {
    mask(IpAddr::V6(ip), prefix) == IpAddr::V6(Ipv6Addr::from(net))
}

/// Why an address is not public (`None`: it is a public unicast address a plugin may reach).
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    const BLOCKS: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
        ([10, 0, 0, 0], 8, "private (RFC 1918)"),
        ([100, 64, 0, 0], 10, "shared address space (CGNAT, RFC 6598)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local (incl. cloud metadata)"),
        ([172, 16, 0, 0], 12, "private (RFC 1918)"),
        ([192, 0, 0, 0], 24, "reserved (IETF protocol assignments)"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "reserved (6to4 relay anycast)"),
        ([192, 168, 0, 0], 16, "private (RFC 1918)"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved (incl. broadcast)"),
    ];
    BLOCKS
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, class)| *class)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that carry an IPv4 address are judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    let bits = u128::from(ip);
    if in_v6(ip, 0x0064_ff9b << 96, 96) {
        // NAT64 well-known prefix: 64:ff9b::a.b.c.d reaches a.b.c.d.
        return v4_class(Ipv4Addr::from(bits as u32));
    }
    if in_v6(ip, 0x2002 << 112, 16) {
        // 6to4: 2002:aabb:ccdd::/48 reaches a.b.c.d.
        return v4_class(Ipv4Addr::from((bits >> 80) as u32));
    }
    const BLOCKS: &[(u128, u8, &str)] = &[
        (0, 128, "unspecified"),
        (1, 128, "loopback"),
        (0x0064_ff9b_0001 << 80, 48, "private (local-use NAT64)"),
        (0x0100 << 112, 64, "reserved (discard-only)"),
        (0x2001_0db8 << 96, 32, "documentation"),
        (0x2001_0002 << 96, 48, "benchmarking"),
        (0x2001 << 112, 23, "reserved (IETF protocol assignments, incl. Teredo)"),
        (0x3fff << 112, 20, "documentation"),
        (0xfc00 << 112, 7, "unique local (ULA)"),
        (0xfe80 << 112, 10, "link-local"),
        (0xfec0 << 112, 10, "site-local (deprecated)"),
        (0xff00 << 112, 8, "multicast"),
    ];
    if let Some((_, _, class)) = BLOCKS.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Some(class);
    }
    // Only global unicast (2000::/3) is public; everything else is unassigned or reserved.
    if !in_v6(ip, 0x2000 << 112, 3) {
        return Some("reserved (outside global unicast 2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn exact_names_match_case_and_trailing_dot_insensitively() {
        let p = HostPattern::parse("API.Example.com").unwrap();
        assert_eq!(p, HostPattern::Name("api.example.com".into()));
        assert!(p.matches("api.example.com"));
        assert!(p.matches("API.EXAMPLE.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("x.api.example.com"));
        assert!(!p.matches("api.example.com.evil.org"));
    }

    #[test]
    fn a_star_matches_subdomains_only() {
        let p = HostPattern::parse("*.example.org").unwrap();
        assert!(p.matches("a.example.org"));
        assert!(p.matches("b.a.example.org"));
        assert!(!p.matches("example.org"), "the bare domain is not a subdomain");
        assert!(!p.matches("badexample.org"), "a suffix that is not a label boundary");
        assert!(!p.matches("a.example.org.evil.com"));
    }

    #[test]
    fn ip_patterns_match_only_that_literal() {
        let p = HostPattern::parse("127.0.0.1").unwrap();
        assert!(p.matches("127.0.0.1"));
        assert!(!p.matches("localhost"), "a name is not its address");
        let p = HostPattern::parse("[::1]").unwrap();
        assert!(p.matches("[::1]"));
        assert!(!p.matches("[::2]"));
        assert!(
            !HostPattern::parse("localhost").unwrap().matches("127.0.0.1"),
            "an address is not a name"
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for bad in [
            "https://api.example.com",
            "api.example.com:443",
            "api.example.com/path",
            "*",
            "*.com",
            "a.*.example.org",
            "",
            "-bad.example.org",
            "exa mple.org",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(HostPattern::parse("*.com").unwrap_err().contains("two labels"));
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")), "mapped forms count as IPv4");
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        assert!(!one.contains(ip("::1")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert_eq!(one.to_string(), "127.0.0.1");
        assert_eq!(c.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn bad_cidrs_are_refused() {
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(Cidr::parse("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(Cidr::parse("localhost").is_err());
        assert!(Cidr::parse("10.0.0.0/x").is_err());
        assert!(Cidr::parse("::/129").is_err());
    }

    #[test]
    fn public_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(non_public_class(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn every_non_public_class_is_refused() {
        for (addr, class) in [
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.255", "CGNAT"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("192.0.0.8", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001:2::1", "benchmarking"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("100::1", "discard"),
            ("64:ff9b:1::a00:1", "local-use NAT64"),
            ("::2", "reserved"),
        ] {
            let got = non_public_class(ip(addr));
            assert!(
                got.is_some_and(|c| c.contains(class)),
                "{addr}: {got:?}, expected {class}"
            );
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for (addr, class) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:c0a8:101::1", "private"),
        ] {
            let got = non_public_class(ip(addr));
            assert!(
                got.is_some_and(|c| c.contains(class)),
                "{addr}: {got:?}, expected {class}"
            );
        }
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }
}
