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
mod tests;
