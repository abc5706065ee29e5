//! Resource names (AIP-122): `projects/{project}/{collection}/{id}`, and the page tokens,
//! etags and ids that go with them.

use tonic::Code;

use super::error::ApiError;

pub use super::view::Collection;

pub fn resource_name(project: &str, c: Collection, id: &str) -> String {
    format!("projects/{project}/{}/{id}", c.segment())
}

/// The caller's project must be the one a `parent` names.
pub fn check_parent(project: &str, parent: &str) -> Result<(), ApiError> {
    match parent.strip_prefix("projects/") {
        Some(p) if p == project => Ok(()),
        Some(p) if !p.is_empty() && !p.contains('/') => Err(other_project(p, "parent")),
        _ => Err(ApiError::invalid(
            "parent",
            format!("`{parent}` is not a project name: expected `projects/{project}`"),
        )),
    }
}

fn other_project(p: &str, field: &str) -> ApiError {
    ApiError::new(
        Code::PermissionDenied,
        format!("project `{p}` is not the project of this caller's token"),
    )
    .at(field)
}

/// The id of a resource name of collection `c` in `project`.
pub fn parse_name<'a>(
    project: &str,
    c: Collection,
    name: &'a str,
    field: &str,
) -> Result<&'a str, ApiError> {
    let bad = || {
        ApiError::invalid(
            field,
            format!(
                "`{name}` is not a {} name: expected `projects/{project}/{}/{{id}}`",
                c.noun(),
                c.segment()
            ),
        )
    };
    let rest = name.strip_prefix("projects/").ok_or_else(bad)?;
    let mut parts = rest.split('/');
    let (Some(p), Some(seg), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if seg != c.segment() || id.is_empty() || p.is_empty() {
        return Err(bad());
    }
    if p != project {
        return Err(other_project(p, field));
    }
    Ok(id)
}

/// A user-chosen id (AIP-133): 1-64 letters, digits, `-` or `_`, starting with a letter or
/// digit.
pub fn check_id(id: &str, field: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "`{id}` is not a valid id: use 1-64 letters, digits, `-` or `_`, starting with a letter or digit"
            ),
        ))
    }
}

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of a list: `items` are (position, value) in order; the token is the position of
/// the last item returned. Positions are creation order, so pages stay stable while other
/// resources are created or deleted.
pub fn page<T>(
    items: impl Iterator<Item = (u64, T)>,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<T>, String), ApiError> {
    if page_size < 0 {
        return Err(ApiError::invalid(
            "page_size",
            "page_size must not be negative",
        ));
    }
    let size = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => (n as usize).min(MAX_PAGE_SIZE),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        Some(
            page_token
                .strip_prefix("p")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid("page_token", "the page token is not one this server issued")
                })?,
        )
    };
    let mut out = Vec::new();
    let mut last = None;
    let mut more = false;
    for (pos, item) in items.filter(|(pos, _)| after.is_none_or(|a| *pos > a)) {
        if out.len() == size {
            more = true;
            break;
        }
        last = Some(pos);
        out.push(item);
    }
    let token = match (more, last) {
        (true, Some(l)) => format!("p{l}"),
        _ => String::new(),
    };
    Ok((out, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_name("a", Collection::Vpcs, "projects/a/vpcs/vpc-1", "name"),
            Ok("vpc-1")
        );
        let e = parse_name("a", Collection::Vpcs, "projects/b/vpcs/vpc-1", "name").unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied);
        let e = parse_name("a", Collection::Vpcs, "projects/a/subnets/s", "vpc").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(e.field.as_deref(), Some("vpc"));
    }

    #[test]
    fn pages() {
        let items = || (0..5u64).map(|i| (i * 2, i));
        let (a, t) = page(items(), 2, "").unwrap();
        assert_eq!((a, t.as_str()), (vec![0, 1], "p2"));
        let (b, t) = page(items(), 2, &t).unwrap();
        assert_eq!((b, t.as_str()), (vec![2, 3], "p6"));
        let (c, t) = page(items(), 2, &t).unwrap();
        assert_eq!((c, t.as_str()), (vec![4], ""));
        assert_eq!(
            page(items(), 2, "zz").unwrap_err().code,
            Code::InvalidArgument
        );
    }
}
