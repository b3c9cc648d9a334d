//! The parameters of a token request, however they are sent. Zoho's accounts server takes them
//! in the query string (its documented refresh call), as `application/x-www-form-urlencoded`, or
//! as `multipart/form-data` (what Zoho's Node.js SDK sends); the sandbox's token endpoint and
//! the proxy's token learning both read them here.

use crate::credits::table::parse_query;

/// The OAuth scopes creditops needs from a Zoho org, with what each is for: `auth` names them,
/// `doctor` checks a token against them, `config init`'s template lists them.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "ZohoCRM.modules.ALL",
        "records: the planner's sends, the sandbox proofs",
    ),
    (
        "ZohoCRM.settings.ALL",
        "metadata: the cache, unique fields for plans",
    ),
    (
        "ZohoCRM.users.READ",
        "users: who an integration's calls belong to",
    ),
    (
        "ZohoCRM.org.READ",
        "the org: edition and licences for the credit limit",
    ),
    (
        "ZohoCRM.bulk.ALL",
        "Bulk Read and Write jobs the planner makes",
    ),
    ("ZohoCRM.coql.READ", "COQL queries"),
    (
        "ZohoCRM.notifications.ALL",
        "notification channels (`channels enable`)",
    ),
];

/// The needed scopes that a granted scope list (Zoho's, space or comma separated) does not
/// cover. `X.ALL` covers `X.READ`, and `ZohoCRM.modules.ALL` covers `ZohoCRM.modules.leads.ALL`
/// but not the other way round.
pub fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<String> = granted
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    SCOPES
        .iter()
        .map(|(s, _)| *s)
        .filter(|needed| {
            let needed = needed.to_ascii_lowercase();
            !granted.iter().any(|g| {
                *g == needed
                    || g.strip_suffix(".all")
                        .is_some_and(|area| needed.starts_with(&format!("{area}.")))
            })
        })
        .collect()
}

/// Largest multipart body read for token parameters (a token request is a few hundred bytes).
const MAX_MULTIPART: usize = 64 * 1024;

/// The request's parameters: the query's, then the body's (form or multipart); the first of a
/// name wins where it is looked up with [`param`].
pub fn token_params(
    content_type: Option<&str>,
    body: &[u8],
    query: &[(String, String)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = query.to_vec();
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        if let Some(boundary) = boundary(content_type.unwrap_or("")) {
            params.extend(multipart_fields(body, &boundary));
        }
    } else if !body.is_empty() {
        params.extend(parse_query(&String::from_utf8_lossy(body)));
    }
    params
}

/// The first value of `name`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

/// The text fields of a multipart/form-data body (files and malformed parts are skipped).
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let body = &body[..body.len().min(MAX_MULTIPART)];
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let name = head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            if v.contains("filename=") {
                return None;
            }
            v.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
            })
        });
        if let Some(name) = name {
            out.push((name, value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_covered_by_themselves_or_a_wider_all() {
        let all: Vec<&str> = SCOPES.iter().map(|(s, _)| *s).collect();
        assert!(missing_scopes(&all.join(",")).is_empty());
        // The sandbox's answer: users and org granted ALL, which covers READ.
        assert!(missing_scopes("ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.users.ALL ZohoCRM.org.ALL ZohoCRM.bulk.ALL ZohoCRM.coql.READ ZohoCRM.notifications.ALL").is_empty());
        assert_eq!(
            missing_scopes("ZohoCRM.modules.READ,ZohoCRM.settings.ALL,ZohoCRM.users.READ,ZohoCRM.org.READ,ZohoCRM.bulk.ALL,ZohoCRM.coql.READ"),
            vec!["ZohoCRM.modules.ALL", "ZohoCRM.notifications.ALL"],
            "READ does not cover ALL"
        );
        // A narrower grant (one module) does not cover all modules.
        assert!(missing_scopes("ZohoCRM.modules.leads.ALL").contains(&"ZohoCRM.modules.ALL"));
        assert_eq!(missing_scopes("").len(), SCOPES.len());
    }

    #[test]
    fn the_three_encodings_give_the_same_parameters() {
        let query = parse_query(
            "grant_type=refresh_token&client_id=1000.A&client_secret=s&refresh_token=r",
        );
        let from_query = token_params(None, b"", &query);
        let from_form = token_params(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=refresh_token&client_id=1000.A&client_secret=s&refresh_token=r",
            &[],
        );
        let multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nrefresh_token\r\n--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\n1000.A\r\n--XyZ\r\nContent-Disposition: form-data; name=\"client_secret\"\r\n\r\ns\r\n--XyZ\r\nContent-Disposition: form-data; name=\"refresh_token\"\r\n\r\nr\r\n--XyZ--\r\n";
        let from_multipart =
            token_params(Some("multipart/form-data; boundary=XyZ"), multipart, &[]);
        for params in [&from_query, &from_form, &from_multipart] {
            assert_eq!(param(params, "grant_type"), Some("refresh_token"));
            assert_eq!(param(params, "client_id"), Some("1000.A"));
            assert_eq!(param(params, "client_secret"), Some("s"));
            assert_eq!(param(params, "refresh_token"), Some("r"));
        }
    }

    #[test]
    fn malformed_multipart_yields_what_it_can_and_never_panics() {
        for body in [
            &b""[..],
            b"--B\r\n",
            b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nbin\r\n--B--",
            b"\xff\xfe--B\r\n\r\n",
        ] {
            let p = token_params(Some("multipart/form-data; boundary=\"B\""), body, &[]);
            assert!(p.iter().all(|(k, _)| k == "a"), "{p:?}");
        }
        assert!(token_params(Some("multipart/form-data"), b"--B\r\n", &[]).is_empty());
    }
}
