//! The node record on TFChain: what noded wants it to say, what differs from what the chain
//! says, and the create/update calls.
//!
//! Rules (zos's, except the farm): a node is found by its twin; absent → `create_node`; present →
//! `update_node` only when resources, interfaces, serial number, secure boot or virtualized
//! differ. Location is not measured here: a new node says "Unknown"/0,0 and an existing node keeps
//! what the chain has. `virtualized` is never turned on for a node registered as not virtualized
//! (zos's rule). A node registered in ANOTHER farm than `farmer_id` is a conflict that is reported,
//! never silently moved.

use zos_bus::Capacity;
use zos_chain::{Chain, Interface, Location, Node, NodeInput, Resources, Signer};

use super::RegisterError;

/// What this boot measured, turned into chain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub capacity: Capacity,
    /// The `zos` interface; `None` when networkd did not answer (the chain's copy is kept).
    pub zos_interface: Option<Interface>,
    /// Baseboard serial; empty means none.
    pub serial: String,
    pub secure_boot: bool,
    pub virtualized: bool,
}

/// The location a node without geo information registers with.
pub fn unknown_location() -> Location {
    Location {
        city: "Unknown".into(),
        country: "Unknown".into(),
        latitude: "0".into(),
        longitude: "0".into(),
    }
}

fn resources(c: &Capacity) -> Resources {
    Resources {
        hru: c.hru,
        sru: c.sru,
        cru: c.cru,
        mru: c.mru,
    }
}

fn serial(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The input of `create_node` for a node that is not on the chain yet.
pub fn new_node(m: &Measured) -> NodeInput {
    NodeInput {
        resources: resources(&m.capacity),
        location: unknown_location(),
        interfaces: m.zos_interface.iter().cloned().collect(),
        secure_boot: m.secure_boot,
        virtualized: m.virtualized,
        serial_number: serial(&m.serial),
    }
}

/// The input of `update_node` for `existing`, following the rules above.
pub fn updated_node(existing: &Node, m: &Measured) -> NodeInput {
    NodeInput {
        resources: resources(&m.capacity),
        location: existing.location.clone(),
        interfaces: match &m.zos_interface {
            Some(zos) => vec![zos.clone()],
            None => existing.interfaces.clone(),
        },
        secure_boot: m.secure_boot,
        virtualized: existing.virtualized && m.virtualized,
        serial_number: serial(&m.serial),
    }
}

/// Names of the fields where `existing` differs from `wanted` (empty: nothing to update).
pub fn changes(existing: &Node, wanted: &NodeInput) -> Vec<&'static str> {
    let mut out = Vec::new();
    if existing.resources != wanted.resources {
        out.push("resources");
    }
    if existing.interfaces != wanted.interfaces {
        out.push("interfaces");
    }
    if existing.serial_number != wanted.serial_number {
        out.push("serial_number");
    }
    if existing.secure_boot != wanted.secure_boot {
        out.push("secure_boot");
    }
    if existing.virtualized != wanted.virtualized {
        out.push("virtualized");
    }
    if existing.location != wanted.location {
        out.push("location");
    }
    out
}

fn farm_missing(chain: &Chain, farm_id: u32) -> RegisterError {
    RegisterError::FarmNotExists {
        farm_id,
        url: chain.url().to_string(),
    }
}

fn step(step: &'static str) -> impl Fn(zos_chain::Error) -> RegisterError {
    move |source| RegisterError::from_chain(step, source)
}

/// The node of `twin_id`, checked against `farm_id` before anything is measured: `Some` when it
/// is in that farm, `None` when the twin has no node yet and the farm exists; `OtherFarm` or
/// `FarmNotExists` otherwise.
pub async fn find_node(
    chain: &Chain,
    twin_id: u32,
    farm_id: u32,
) -> Result<Option<Node>, RegisterError> {
    let existing = match chain
        .node_id_by_twin(twin_id)
        .await
        .map_err(step("looking up the node of the twin"))?
    {
        Some(id) => chain.node(id).await.map_err(step("reading the node"))?,
        None => None,
    };
    match existing {
        Some(node) if node.farm_id != farm_id => Err(RegisterError::OtherFarm {
            node_id: node.id,
            registered_farm: node.farm_id,
            farmer_id: farm_id,
        }),
        Some(node) => Ok(Some(node)),
        None => match chain
            .farm(farm_id)
            .await
            .map_err(step("reading the farm"))?
        {
            Some(_) => Ok(None),
            None => Err(farm_missing(chain, farm_id)),
        },
    }
}

/// Creates the node (`existing` is `None`) or updates it when it differs from `measured`.
/// Returns its id and whether it was created now.
pub async fn apply(
    chain: &Chain,
    signer: &Signer,
    farm_id: u32,
    existing: Option<Node>,
    measured: &Measured,
) -> Result<(u32, bool), RegisterError> {
    match existing {
        Some(node) => {
            let wanted = updated_node(&node, measured);
            let changed = changes(&node, &wanted);
            if changed.is_empty() {
                tracing::info!(node_id = node.id, "node on chain is up to date");
            } else {
                tracing::info!(node_id = node.id, ?changed, "updating the node on chain");
                chain
                    .update_node(signer, node.id, farm_id, &wanted)
                    .await
                    .map_err(step("update_node"))?;
            }
            Ok((node.id, false))
        }
        None => {
            let input = new_node(measured);
            tracing::info!(
                farm_id,
                cru = input.resources.cru,
                mru = input.resources.mru,
                sru = input.resources.sru,
                hru = input.resources.hru,
                "creating the node on chain"
            );
            match chain.create_node(signer, farm_id, &input).await {
                Ok(id) => Ok((id, true)),
                // The farm was there when read but gone at dispatch (a reset chain).
                Err(zos_chain::Error::Module { error, .. }) if error == "FarmNotExists" => {
                    Err(farm_missing(chain, farm_id))
                }
                Err(source) => Err(step("create_node")(source)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn measured() -> Measured {
        Measured {
            capacity: Capacity {
                cru: 4,
                mru: 8 * GIB,
                sru: 200 * GIB,
                hru: 0,
            },
            zos_interface: Some(Interface {
                name: "zos".into(),
                mac: "52:54:00:12:34:56".into(),
                ips: vec!["10.0.2.15".into()],
            }),
            serial: "BS-1".into(),
            secure_boot: false,
            virtualized: true,
        }
    }

    fn on_chain(input: &NodeInput) -> Node {
        Node {
            id: 9,
            farm_id: 1,
            twin_id: 3,
            resources: input.resources,
            location: input.location.clone(),
            public_config: None,
            created: 0,
            farming_policy_id: 1,
            interfaces: input.interfaces.clone(),
            certified: false,
            secure_boot: input.secure_boot,
            virtualized: input.virtualized,
            serial_number: input.serial_number.clone(),
        }
    }

    #[test]
    fn same_measurement_changes_nothing() {
        let m = measured();
        let node = on_chain(&new_node(&m));
        assert_eq!(changes(&node, &updated_node(&node, &m)), Vec::<&str>::new());
    }

    #[test]
    fn each_measured_field_counts_as_a_change() {
        let m = measured();
        let node = on_chain(&new_node(&m));
        type Change = Box<dyn Fn(&mut Measured)>;
        let cases: Vec<(&str, Change)> = vec![
            ("resources", Box::new(|m| m.capacity.mru += GIB)),
            ("resources", Box::new(|m| m.capacity.sru = 0)),
            (
                "interfaces",
                Box::new(|m| {
                    m.zos_interface
                        .as_mut()
                        .unwrap()
                        .ips
                        .push("10.0.2.16".into())
                }),
            ),
            ("serial_number", Box::new(|m| m.serial = "BS-2".into())),
            ("serial_number", Box::new(|m| m.serial = "  ".into())),
            ("secure_boot", Box::new(|m| m.secure_boot = true)),
            ("virtualized", Box::new(|m| m.virtualized = false)),
        ];
        for (field, change) in cases {
            let mut m2 = m.clone();
            change(&mut m2);
            assert_eq!(changes(&node, &updated_node(&node, &m2)), vec![field]);
        }
    }

    #[test]
    fn unknown_interfaces_and_location_keep_the_chain_copy() {
        let m = measured();
        let mut node = on_chain(&new_node(&m));
        node.location = Location {
            city: "Ghent".into(),
            country: "Belgium".into(),
            latitude: "51.05".into(),
            longitude: "3.71667".into(),
        };
        let mut m2 = m.clone();
        m2.zos_interface = None;
        let wanted = updated_node(&node, &m2);
        assert_eq!(wanted.location, node.location);
        assert_eq!(wanted.interfaces, node.interfaces);
        assert!(changes(&node, &wanted).is_empty());
    }

    #[test]
    fn virtualized_is_never_turned_on_for_a_bare_metal_node() {
        let mut m = measured();
        m.virtualized = false;
        let node = on_chain(&new_node(&m));
        m.virtualized = true;
        let wanted = updated_node(&node, &m);
        assert!(!wanted.virtualized);
        assert!(changes(&node, &wanted).is_empty());
    }

    #[test]
    fn new_node_has_unknown_location_and_no_empty_serial() {
        let mut m = measured();
        m.serial = String::new();
        m.zos_interface = None;
        let input = new_node(&m);
        assert_eq!(input.location, unknown_location());
        assert_eq!(input.serial_number, None);
        assert!(input.interfaces.is_empty());
        assert_eq!(input.resources.sru, 200 * GIB);
    }
}
