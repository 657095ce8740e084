//! SSRF guard: a subscription may only reach the public internet.
//!
//! Two checks, because either alone leaves a hole:
//! - [`validate_url`] at create/update time and again before each send: `https` only (plain
//!   `http` only to loopback where loopback is allowed: the local stack), no IP literal in a
//!   refused range (reqwest does not resolve IP literals, so the resolver never sees them).
//! - [`GuardedResolver`], the delivery client's DNS resolver: it drops every refused address
//!   from the answer, so the address the client connects to is the one that was checked (no
//!   DNS-rebinding window between a check and the connection), and fails when none is left.
//!
//! Refused: private (RFC 1918), loopback (unless allowed), link-local (with the metadata
//! service 169.254.169.254), CGNAT 100.64/10, unspecified, broadcast, multicast, reserved and
//! documentation ranges; for IPv6 loopback, unique-local fc00::/7 (with the EC2 metadata
//! address fd00:ec2::254), link-local, multicast, documentation, and any IPv4 address embedded
//! in an IPv4-mapped, NAT64 or 6to4 address is checked as IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use reqwest::Url;

/// Longest subscription URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// True when the hub must not send to `ip`.
pub fn ip_refused(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_refused(v4, allow_loopback),
        IpAddr::V6(v6) => v6_refused(v6, allow_loopback),
    }
}

fn v4_refused(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return !allow_loopback;
    }
    ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
}

fn v6_refused(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return !allow_loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_refused(v4, allow_loopback);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address the network reaches.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let o = ip.octets();
        return v4_refused(Ipv4Addr::new(o[12], o[13], o[14], o[15]), false);
    }
    if seg[0] == 0x2002 {
        let o = ip.octets();
        return v4_refused(Ipv4Addr::new(o[2], o[3], o[4], o[5]), false);
    }
    ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local, with fd00:ec2::254
        || (seg[0] & 0xffc0) == 0xfe80 // link local
        || (seg[0] == 0x2001 && seg[1] == 0xdb8) // documentation
        || seg[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
}

/// Checks a subscription URL when it is stored; the message says what is wrong (it becomes
/// the 422's detail). Besides [`check_before_send`], refuses `localhost` by name where
/// loopback is not allowed (the resolver would refuse it anyway; this says so at once).
pub fn validate_url(raw: &str, allow_loopback: bool) -> Result<Url, String> {
    let url = check_before_send(raw, allow_loopback)?;
    let host = url.host_str().unwrap_or_default();
    if !allow_loopback && (host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost")) {
        return Err("points at localhost".into());
    }
    Ok(url)
}

/// The checks the resolver cannot make, before each send: the scheme, and IP-literal hosts
/// (reqwest connects to those without resolving). Names are left to [`GuardedResolver`].
pub fn check_before_send(raw: &str, allow_loopback: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("has no host")?;
    // The URL parser has already normalised IP literals (`0x7f.1` is `127.0.0.1`).
    let literal: Option<IpAddr> = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok();
    let loopback_host = match literal {
        Some(ip) => ip.is_loopback(),
        None => host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost"),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_host => {}
        "http" if allow_loopback => {
            return Err(
                "must use https (http only to a loopback address on the local stack)".into(),
            );
        }
        "http" => return Err("must use https".into()),
        other => return Err(format!("must use https (not {other})")),
    }
    if let Some(ip) = literal
        && ip_refused(ip, allow_loopback)
    {
        return Err(format!(
            "points at {ip}, a private, loopback, link-local or otherwise internal address"
        ));
    }
    Ok(url)
}

/// The delivery client's resolver: the system resolver's answer minus refused addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let addrs: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)??
                    .collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| !ip_refused(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(RefusedAddress(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Every address a name resolved to is refused.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to refused (private, loopback, link-local or internal) addresses")]
pub struct RefusedAddress(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        ip_refused(s.parse().unwrap(), false)
    }

    #[test]
    fn internal_ranges_are_refused() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:0a00:0001::",
            "::",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "100.128.0.1",
        ] {
            assert!(!refused(ip), "{ip}");
        }
        assert!(!ip_refused("127.0.0.1".parse().unwrap(), true));
        assert!(ip_refused("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn urls_need_https_and_public_literals() {
        assert!(validate_url("https://hooks.example.com/x", false).is_ok());
        assert!(validate_url("http://hooks.example.com/x", false).is_err());
        assert!(validate_url("http://hooks.example.com/x", true).is_err());
        assert!(validate_url("http://127.0.0.1:9170/x", true).is_ok());
        assert!(validate_url("http://localhost:9170/x", true).is_ok());
        assert!(validate_url("http://127.0.0.1:9170/x", false).is_err());
        assert!(validate_url("https://10.0.0.5/x", true).is_err());
        assert!(validate_url("https://169.254.169.254/latest", false).is_err());
        assert!(validate_url("https://[fd00:ec2::254]/", false).is_err());
        assert!(validate_url("https://localhost/", false).is_err());
        assert!(validate_url("ftp://example.com/", false).is_err());
        assert!(validate_url("not a url", false).is_err());
    }

    #[tokio::test]
    async fn resolver_drops_loopback_unless_allowed() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = GuardedResolver {
            allow_loopback: false,
        }
        .resolve(name)
        .await;
        assert!(refused.is_err());
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let allowed = GuardedResolver {
            allow_loopback: true,
        }
        .resolve(name)
        .await
        .unwrap();
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }
}
