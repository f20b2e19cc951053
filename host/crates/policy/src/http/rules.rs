//! The pure part of the HTTP policy: allowlist entries (`api.example.com`, `*.example.org:8443`, `[::1]:8080`),
//! CIDR lists, which IP addresses count as public, and Coral's own endpoints that no plugin may reach. No I/O here;
//! the runtime's sender applies these after DNS resolution.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The host part of an allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host name (lowercase, no trailing dot).
    Name(String),
    /// Any subdomain of this name (`*.example.org`: `a.example.org`, `b.a.example.org`, not `example.org`).
    Subdomains(String),
    /// Exactly this IP address (a URL naming the address literally).
    Ip(IpAddr),
}

/// What a valid entry looks like, for error messages.
const PATTERN_HELP: &str = "expected a host like `api.example.com`, `*.example.org` or an IP address, optionally with \
                            a port (`localhost:8080`, `*.example.org:8443`, `[::1]:8080`), without scheme or path";

impl HostPattern {
    /// Parse the host part of an allowlist entry (no port).
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        Self::parse_in(text, text)
    }

    /// Parse `host`, the host part of `text`, naming `text` in errors.
    fn parse_in(host: &str, text: &str) -> Result<HostPattern, String> {
        let lower = host.trim().to_ascii_lowercase();
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
            HostPattern::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The port a URL of this scheme uses when it names none: 443 for `https`, 80 for `http`.
pub fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// One entry of a plugin's `http` allowlist: a host pattern and the port it admits. Without a port it admits only
/// the scheme's default port (80 for `http`, 443 for `https`); with one, only that port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// Which hosts.
    pub host: HostPattern,
    /// The one port admitted; `None`: the default port of the URL's scheme.
    pub port: Option<u16>,
    /// The entry as the operator wrote it (trimmed), for `coral plugin inspect`.
    written: String,
}

impl AllowEntry {
    /// Parse one allowlist entry: `host`, `host:port`, `*.domain[:port]`, an IPv4 address with an optional port,
    /// or an IPv6 address (with a port only in brackets: `[::1]:8080`).
    pub fn parse(text: &str) -> Result<AllowEntry, String> {
        let written = text.trim();
        if written.contains("://") {
            return Err(format!("{text:?}: {PATTERN_HELP}"));
        }
        let (host, port) = split_port(written).map_err(|reason| format!("{text:?}: {reason} ({PATTERN_HELP})"))?;
        Ok(AllowEntry {
            host: HostPattern::parse_in(host, text)?,
            port,
            written: written.to_string(),
        })
    }

    /// Whether this entry admits `port` for a URL of this scheme.
    pub fn admits_port(&self, port: u16, tls: bool) -> bool {
        port == self.port.unwrap_or(default_port(tls))
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// Split `host[:port]`; a bare IPv6 address has no port (write `[::1]:8080` for one).
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("`[` without `]`".into());
        };
        let (host, after) = text.split_at(end + 2);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(parse_port(port)?))),
                None => Err(format!("unexpected {after:?} after the address")),
            },
        };
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok((text, None));
    }
    match text.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            Err("an IPv6 address with a port is written in brackets, like `[::1]:8080`".into())
        }
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((text, None)),
    }
}

/// A port number from 1 to 65535, digits only.
fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("the port {text:?} is not a number from 1 to 65535")),
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

/// Where one of Coral's own endpoints is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointHost {
    /// An address; `0.0.0.0` or `::` (a listener on every interface) stands for every non-public address.
    Ip(IpAddr),
    /// A host name (lowercase, no trailing dot): `localhost` and `*.localhost` stand for every loopback address;
    /// any other name is resolved by the sender when a request to the same port is checked.
    Name(String),
}

/// One of Coral's own endpoints, which no plugin request may reach whatever its allowlist and `allow_private`: a
/// listener of the host (OneBot, metrics) or a OneBot implementation the host connects to (its API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoralEndpoint {
    /// Where.
    pub host: EndpointHost,
    /// Its port.
    pub port: u16,
    /// What it is, for the refusal (`the OneBot listener onebot[0].listen`).
    pub what: String,
}

impl CoralEndpoint {
    /// A listener address as written in the config (`127.0.0.1:8080`, `[::]:6700`, `localhost:5701`); `None` when
    /// it names no fixed port (`:0`, recorded once bound) or is not an address at all (binding it fails anyway).
    pub fn listen(text: &str, what: impl Into<String>) -> Option<CoralEndpoint> {
        let text = text.trim();
        let (host, port) = match text.parse::<SocketAddr>() {
            Ok(addr) => (EndpointHost::Ip(canonical(addr.ip())), addr.port()),
            Err(_) => {
                let (host, port) = text.rsplit_once(':')?;
                (Self::host(host)?, port.parse().ok()?)
            }
        };
        (port != 0).then(|| CoralEndpoint {
            host,
            port,
            what: what.into(),
        })
    }

    /// A listener as bound (its real port, for `:0`).
    pub fn bound(addr: SocketAddr, what: impl Into<String>) -> CoralEndpoint {
        CoralEndpoint {
            host: EndpointHost::Ip(canonical(addr.ip())),
            port: addr.port(),
            what: what.into(),
        }
    }

    /// The endpoint of a URL Coral connects to (`ws://127.0.0.1:3001`, `http://napcat:5700/`; without a port, 80
    /// for `ws`/`http` and 443 for `wss`/`https`); `None` when it is not such a URL (Coral cannot connect to it).
    pub fn url(text: &str, what: impl Into<String>) -> Option<CoralEndpoint> {
        let uri: http::Uri = text.trim().parse().ok()?;
        let tls = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return None,
        };
        Some(CoralEndpoint {
            host: Self::host(uri.host()?)?,
            port: uri.port_u16().unwrap_or(default_port(tls)),
            what: what.into(),
        })
    }

    fn host(text: &str) -> Option<EndpointHost> {
        match parse_ip_literal(text) {
            Some(ip) => Some(EndpointHost::Ip(canonical(ip))),
            None if text.is_empty() => None,
            None => Some(EndpointHost::Name(normalize_host(text))),
        }
    }

    /// Whether a connection to `addr` reaches this endpoint, as far as can be told without resolving a name.
    pub fn covers(&self, addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        addr.port() == self.port
            && match &self.host {
                EndpointHost::Ip(own) if own.is_unspecified() => non_public_class(ip).is_some(),
                EndpointHost::Ip(own) => *own == ip,
                EndpointHost::Name(name) => is_localhost(name) && ip.is_loopback(),
            }
    }

    /// The name the sender must resolve to tell whether a request to `port` reaches this endpoint.
    pub fn name_to_resolve(&self, port: u16) -> Option<&str> {
        match &self.host {
            EndpointHost::Name(name) if port == self.port && !is_localhost(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for CoralEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            EndpointHost::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            EndpointHost::Ip(ip) => write!(f, "{ip}:{}", self.port),
            EndpointHost::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// `localhost` or a name under it (RFC 6761: always loopback).
fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Coral's own endpoints (see [`CoralEndpoint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoralEndpoints(Vec<CoralEndpoint>);

impl CoralEndpoints {
    /// Add endpoints not already in the set.
    pub fn extend(&mut self, more: impl IntoIterator<Item = CoralEndpoint>) {
        for endpoint in more {
            if !self.0.contains(&endpoint) {
                self.0.push(endpoint);
            }
        }
    }

    /// The endpoints.
    pub fn iter(&self) -> impl Iterator<Item = &CoralEndpoint> {
        self.0.iter()
    }

    /// The endpoint a connection to `addr` would reach, if it is one of these (names other than `localhost` are
    /// left to the sender: see [`CoralEndpoint::name_to_resolve`]).
    pub fn covering(&self, addr: SocketAddr) -> Option<&CoralEndpoint> {
        self.0.iter().find(|e| e.covers(addr))
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

    fn entry(text: &str) -> AllowEntry {
        AllowEntry::parse(text).unwrap_or_else(|e| panic!("{text:?} was refused: {e}"))
    }

    #[test]
    fn an_entry_without_a_port_admits_only_the_default_port_of_the_scheme() {
        for text in ["example.com", "*.example.org", "127.0.0.1", "[::1]", "::1"] {
            let e = entry(text);
            assert_eq!(e.port, None, "{text}");
            assert!(e.admits_port(80, false), "{text}: http on 80");
            assert!(e.admits_port(443, true), "{text}: https on 443");
            assert!(!e.admits_port(443, false), "{text}: http on 443");
            assert!(!e.admits_port(80, true), "{text}: https on 80");
            for other in [8080, 8443, 9000, 1] {
                assert!(
                    !e.admits_port(other, false) && !e.admits_port(other, true),
                    "{text}: port {other}"
                );
            }
        }
    }

    #[test]
    fn an_entry_with_a_port_admits_only_that_port() {
        let e = entry("localhost:8080");
        assert_eq!(e.host, HostPattern::Name("localhost".into()));
        assert_eq!(e.port, Some(8080));
        assert!(e.admits_port(8080, false) && e.admits_port(8080, true));
        assert!(!e.admits_port(80, false), "localhost:8080 does not admit localhost:80");
        assert!(!e.admits_port(443, true));
        assert!(!e.admits_port(8081, false));
        let e = entry(" 127.0.0.1:9000 ");
        assert_eq!((e.host.clone(), e.port), (HostPattern::Ip(ip("127.0.0.1")), Some(9000)));
        assert!(e.host.matches("127.0.0.1") && !e.host.matches("localhost"));
        assert!(e.admits_port(9000, false) && !e.admits_port(80, false));
        assert_eq!(e.to_string(), "127.0.0.1:9000", "shown as written");
    }

    #[test]
    fn wildcards_and_ipv6_addresses_take_ports() {
        let e = entry("*.Example.org:8443");
        assert_eq!(e.host, HostPattern::Subdomains("example.org".into()));
        assert_eq!(e.port, Some(8443));
        assert!(e.host.matches("a.example.org") && !e.host.matches("example.org"));
        assert!(e.admits_port(8443, true) && !e.admits_port(443, true));
        assert_eq!(e.to_string(), "*.Example.org:8443", "shown as written");
        let e = entry("[::1]:8080");
        assert_eq!((e.host.clone(), e.port), (HostPattern::Ip(ip("::1")), Some(8080)));
        assert!(e.host.matches("[::1]"));
        assert!(e.admits_port(8080, false) && !e.admits_port(80, false));
        let e = entry("[2001:db8::1]");
        assert_eq!((e.host, e.port), (HostPattern::Ip(ip("2001:db8::1")), None));
        let e = entry("::1");
        assert_eq!(
            (e.host, e.port),
            (HostPattern::Ip(ip("::1")), None),
            "a bare IPv6 address has no port"
        );
    }

    #[test]
    fn bad_entries_are_refused_at_parse_naming_the_entry() {
        for bad in [
            "localhost:0",
            "localhost:65536",
            "localhost:",
            "localhost:http",
            "localhost:+80",
            "localhost:80:80",
            "*.example.org:99999",
            "[::1]8080",
            "[::1",
            "[::1]:",
            "[::1]:0",
            "[localhost]:80",
            ":8080",
            "*:8080",
            "https://example.com:443",
            "example.com:443/path",
            "exa mple.org:80",
        ] {
            let err = AllowEntry::parse(bad).expect_err(bad);
            assert!(
                err.contains(&format!("{bad:?}")),
                "{bad:?}: the error does not name the entry: {err}"
            );
        }
        assert!(AllowEntry::parse("localhost:0").unwrap_err().contains("1 to 65535"));
        assert!(AllowEntry::parse("fe80::1:80:x").unwrap_err().contains("brackets"));
        assert!(AllowEntry::parse("*.com:80").unwrap_err().contains("two labels"));
    }

    fn sock(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn coral_endpoints_cover_their_address_and_port_only() {
        let listener = CoralEndpoint::listen("127.0.0.1:6700", "l").unwrap();
        assert!(listener.covers(sock("127.0.0.1:6700")));
        assert!(
            listener.covers(sock("[::ffff:127.0.0.1]:6700")),
            "a mapped form is the same address"
        );
        assert!(!listener.covers(sock("127.0.0.1:6701")));
        assert!(!listener.covers(sock("127.0.0.2:6700")));
        assert_eq!(listener.to_string(), "127.0.0.1:6700");

        // A listener on every interface: every non-public address at that port.
        for any in ["0.0.0.0:5700", "[::]:5700"] {
            let e = CoralEndpoint::listen(any, "l").unwrap();
            for reached in [
                "127.0.0.1:5700",
                "10.1.2.3:5700",
                "192.168.0.9:5700",
                "[::1]:5700",
                "[fd00::1]:5700",
            ] {
                assert!(e.covers(sock(reached)), "{any} should cover {reached}");
            }
            assert!(!e.covers(sock("127.0.0.1:5701")));
            assert!(!e.covers(sock("8.8.8.8:5700")), "a public address is another machine");
        }

        // `localhost` is every loopback address; other names are left to the sender to resolve.
        let named = CoralEndpoint::url("ws://LocalHost:3001/onebot/v11", "u").unwrap();
        assert_eq!(named.host, EndpointHost::Name("localhost".into()));
        assert!(named.covers(sock("127.0.0.1:3001")) && named.covers(sock("[::1]:3001")));
        assert!(!named.covers(sock("127.0.0.1:3002")));
        assert_eq!(named.name_to_resolve(3001), None);
        let remote = CoralEndpoint::url("http://napcat:5700", "u").unwrap();
        assert!(!remote.covers(sock("172.17.0.2:5700")));
        assert_eq!(remote.name_to_resolve(5700), Some("napcat"));
        assert_eq!(remote.name_to_resolve(80), None);
        let listen_name = CoralEndpoint::listen("localhost:5701", "l").unwrap();
        assert!(listen_name.covers(sock("127.0.0.1:5701")));

        // Default ports by scheme; what Coral could never connect to or listen on is no endpoint.
        assert_eq!(CoralEndpoint::url("wss://impl.example/", "u").unwrap().port, 443);
        assert_eq!(CoralEndpoint::url("https://impl.example", "u").unwrap().port, 443);
        let v6 = CoralEndpoint::url("ws://[::1]/", "u").unwrap();
        assert_eq!((v6.host, v6.port), (EndpointHost::Ip(ip("::1")), 80));
        assert_eq!(CoralEndpoint::listen("127.0.0.1:0", "l"), None, "recorded once bound");
        assert_eq!(CoralEndpoint::url("ftp://impl.example", "u"), None);
        assert_eq!(CoralEndpoint::listen("nonsense", "l"), None);
        let bound = CoralEndpoint::bound(sock("127.0.0.1:41234"), "b");
        assert!(bound.covers(sock("127.0.0.1:41234")));
    }

    #[test]
    fn the_endpoint_set_finds_the_endpoint_and_keeps_one_of_each() {
        let mut set = CoralEndpoints::default();
        let a = CoralEndpoint::listen("127.0.0.1:6700", "the OneBot listener").unwrap();
        let b = CoralEndpoint::url("ws://127.0.0.1:3001", "the OneBot implementation").unwrap();
        set.extend([a.clone(), b.clone(), a.clone()]);
        assert_eq!(set.iter().count(), 2);
        assert_eq!(
            set.covering(sock("127.0.0.1:3001")).map(|e| e.what.as_str()),
            Some("the OneBot implementation")
        );
        assert_eq!(set.covering(sock("127.0.0.1:6700")), Some(&a));
        assert_eq!(set.covering(sock("127.0.0.1:8080")), None);
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
