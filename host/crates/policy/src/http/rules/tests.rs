//! Tests of the HTTP rules: allowlist entries and their ports, CIDR lists, public addresses, Coral's endpoints.

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
