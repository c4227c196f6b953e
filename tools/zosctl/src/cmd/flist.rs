//! `zosctl flist`: pack a directory into a `.fl`, list one, print one of its files. All through
//! `zos-flist`; the stores are the `--store` URLs, or for `cat` the `.fl`'s own routes.

use std::path::Path;

use zos_flist::{Flist, PackOptions, Router};

use crate::error::CliError;
use crate::output::{self, FlistEntry, Output};

pub async fn pack(
    dir: &Path,
    out: &Path,
    stores: &[String],
    keep_passwords: bool,
) -> Result<Output, CliError> {
    let router =
        Router::from_specs(stores).map_err(|e| CliError::InvalidArgument(e.to_string()))?;
    let options = PackOptions {
        keep_passwords,
        ..PackOptions::default()
    };
    let stats = zos_flist::pack(dir, out, &router, &options)
        .await
        .map_err(|e| CliError::flist(dir, &e))?;
    let stores: Vec<String> = router
        .routes()
        .map(|(start, end, url)| format!("{start:02x}-{end:02x}={url}"))
        .collect();
    Ok(output::flist_packed(out, &stats, &stores))
}

pub fn ls(path: &Path) -> Result<Output, CliError> {
    let fail = |e: zos_flist::MetaError| CliError::flist(path, &e);
    let flist = Flist::open(path).map_err(fail)?;
    let mut entries = Vec::new();
    flist
        .walk(|p, entry| {
            entries.push(FlistEntry {
                path: p.to_string(),
                entry: entry.clone(),
            })
        })
        .map_err(fail)?;
    Ok(output::flist_entries(&entries))
}

pub async fn cat(path: &Path, inside: &str, stores: &[String]) -> Result<Output, CliError> {
    let fail = |e: &dyn std::error::Error| CliError::flist(path, e);
    let flist = Flist::open(path).map_err(|e| fail(&e))?;
    let entry = flist.lookup(inside).map_err(|e| fail(&e))?;
    let blocks = flist.blocks(entry.ino).map_err(|e| fail(&e))?;
    let router = if stores.is_empty() {
        let routes = flist.routes().map_err(|e| fail(&e))?;
        Router::from_routes(&routes).map_err(|e| fail(&e))?
    } else {
        Router::from_specs(stores).map_err(|e| CliError::InvalidArgument(e.to_string()))?
    };
    let mut content = Vec::new();
    zos_flist::read_file(&router, &entry, &blocks, &mut content)
        .await
        .map_err(|e| fail(&e))?;
    Ok(output::flist_file(inside, content))
}
