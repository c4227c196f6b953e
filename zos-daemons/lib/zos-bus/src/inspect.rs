//! Read-only inspection of a bus: which well-known names exist, which object paths a service
//! serves, and waiting for a name to get an owner.
//!
//! This is the library half of the `zbusdebug` tool (the node's `busctl`); tests call it directly.
//! It only asks the broker and the services standard questions (`ListNames`, `NameHasOwner`,
//! `Introspect`); it never calls a service's own methods and never owns a name.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use zbus::fdo::{DBusProxy, IntrospectableProxy};
use zbus::names::BusName;
use zbus::Connection;

/// Upper bound on the object paths [`object_paths`] visits, so a service that invents children
/// forever cannot make the walk run forever.
pub const MAX_OBJECT_PATHS: usize = 4096;

/// How often [`wait_for_owner`] asks the broker again.
const WAIT_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot connect to the bus at {address}")]
    Connect {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("{name:?} is not a valid bus name")]
    BadName {
        name: String,
        #[source]
        source: zbus::names::Error,
    },
    #[error("asking the broker for {what} failed")]
    Broker {
        what: &'static str,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("introspecting {path} on {name} failed")]
    Introspect {
        name: String,
        path: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("{name} serves more than {MAX_OBJECT_PATHS} object paths; stopped walking")]
    TooManyPaths { name: String },
    #[error("{name} had no owner after {waited:?} (last error: {last_error})")]
    Timeout {
        name: String,
        waited: Duration,
        last_error: String,
    },
}

/// Every well-known name on the bus, sorted; unique connection names (`:1.42`) are left out.
pub async fn well_known_names(conn: &Connection) -> Result<Vec<String>, InspectError> {
    let broker = broker(conn).await?;
    let names = broker
        .list_names()
        .await
        .map_err(|e| broker_error("ListNames", e))?;
    let mut names: Vec<String> = names
        .into_iter()
        .map(|n| n.to_string())
        .filter(|n| !n.starts_with(':'))
        .collect();
    names.sort();
    Ok(names)
}

/// Whether `name` currently has an owner.
pub async fn has_owner(conn: &Connection, name: &str) -> Result<bool, InspectError> {
    let bus_name = parse_name(name)?;
    broker(conn)
        .await?
        .name_has_owner(bus_name)
        .await
        .map_err(|e| broker_error("NameHasOwner", e))
}

/// Every object path `name` serves, found by introspecting from `/` down (like `busctl tree`),
/// sorted.
pub async fn object_paths(conn: &Connection, name: &str) -> Result<Vec<String>, InspectError> {
    parse_name(name)?;
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([String::from("/")]);
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        if seen.len() > MAX_OBJECT_PATHS {
            return Err(InspectError::TooManyPaths {
                name: name.to_string(),
            });
        }
        let xml = introspect(conn, name, &path).await?;
        for child in child_nodes(&xml) {
            queue.push_back(join_path(&path, &child));
        }
    }
    Ok(seen.into_iter().collect())
}

/// Waits until `name` has an owner on the bus at `address`, connecting again as needed (the
/// broker itself may not be up yet). Gives up after `timeout`.
pub async fn wait_for_owner(
    address: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), InspectError> {
    parse_name(name)?;
    let start = Instant::now();
    let mut conn: Option<Connection> = None;
    let mut last_error = String::from("none");
    loop {
        if conn.is_none() {
            match crate::connect_to(address).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    last_error = format!("connect to {address}: {e}", e = zos_base::Report(&e))
                }
            }
        }
        if let Some(c) = &conn {
            match has_owner(c, name).await {
                Ok(true) => return Ok(()),
                Ok(false) => last_error = String::from("none (name not owned yet)"),
                Err(e) => {
                    last_error = zos_base::report(&e);
                    conn = None;
                }
            }
        }
        if start.elapsed() >= timeout {
            return Err(InspectError::Timeout {
                name: name.to_string(),
                waited: start.elapsed(),
                last_error,
            });
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// Connects to the broker at `address`.
pub async fn connect(address: &str) -> Result<Connection, InspectError> {
    crate::connect_to(address)
        .await
        .map_err(|source| InspectError::Connect {
            address: address.to_string(),
            source: Box::new(source),
        })
}

async fn broker(conn: &Connection) -> Result<DBusProxy<'static>, InspectError> {
    DBusProxy::new(conn)
        .await
        .map_err(|e| broker_error("a proxy", e))
}

fn broker_error(what: &'static str, source: impl Into<zbus::Error>) -> InspectError {
    InspectError::Broker {
        what,
        source: Box::new(source.into()),
    }
}

fn parse_name(name: &str) -> Result<BusName<'_>, InspectError> {
    BusName::try_from(name).map_err(|source| InspectError::BadName {
        name: name.to_string(),
        source,
    })
}

async fn introspect(conn: &Connection, name: &str, path: &str) -> Result<String, InspectError> {
    let err = |source: zbus::Error| InspectError::Introspect {
        name: name.to_string(),
        path: path.to_string(),
        source: Box::new(source),
    };
    let proxy = IntrospectableProxy::builder(conn)
        .destination(name.to_string())
        .map_err(err)?
        .path(path.to_string())
        .map_err(err)?
        .build()
        .await
        .map_err(err)?;
    proxy.introspect().await.map_err(|e| err(e.into()))
}

fn join_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Names of the direct children (`<node name="x"/>` one level below the root `<node>`) in an
/// introspection document. Comments are ignored; child names that are not a single valid path
/// element are dropped.
pub fn child_nodes(xml: &str) -> Vec<String> {
    let mut children = Vec::new();
    let mut depth = 0usize;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with("/node") {
            depth = depth.saturating_sub(1);
            continue;
        }
        let is_node = tag == "node" || tag.starts_with("node ") || tag.starts_with("node\t");
        if !is_node {
            continue;
        }
        if depth == 1 {
            if let Some(name) = attribute(tag, "name").filter(|n| is_path_element(n)) {
                children.push(name.to_string());
            }
        }
        if !tag.ends_with('/') {
            depth += 1;
        }
    }
    children
}

fn attribute<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    for quote in ['"', '\''] {
        let pattern = format!("{key}={quote}");
        let mut search = tag;
        while let Some(at) = search.find(&pattern) {
            let before_ok = at == 0 || search[..at].ends_with(char::is_whitespace);
            let value_start = &search[at + pattern.len()..];
            if before_ok {
                return value_start.find(quote).map(|end| &value_start[..end]);
            }
            search = value_start;
        }
    }
    None
}

fn is_path_element(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_direct_nodes_only() {
        let xml = r#"<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node name="/tf">
  <!-- <node name="commented"/> -->
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
  </interface>
  <node name="zos"/>
  <node name='other'>
    <node name="grandchild"/>
  </node>
  <node name="bad/name"/>
</node>"#;
        assert_eq!(child_nodes(xml), vec!["zos", "other"]);
    }

    #[test]
    fn no_children_in_a_leaf() {
        assert!(child_nodes("<node><interface name=\"a.b\"></interface></node>").is_empty());
        assert!(child_nodes("").is_empty());
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join_path("/", "tf"), "/tf");
        assert_eq!(join_path("/tf", "zos"), "/tf/zos");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(
            parse_name("not a name"),
            Err(InspectError::BadName { .. })
        ));
        assert!(parse_name("tf.zos.Node").is_ok());
    }
}
