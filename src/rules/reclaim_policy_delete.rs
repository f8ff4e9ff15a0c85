//! `reclaim-policy-delete`: storage whose data is deleted with its claim.
//!
//! What: a StorageClass whose `reclaimPolicy` is absent (Kubernetes defaults it to `Delete`) or
//! `Delete`; a PersistentVolume whose `persistentVolumeReclaimPolicy` is `Delete`.
//! Why: the outage of DESIGN.md §1 was survivable because volumes were retained: when the claims
//! were deleted, the data stayed. With `Delete`, a deleted claim deletes the disk.
//! Example: `kind: StorageClass` with `provisioner: ebs.csi.aws.com` and no `reclaimPolicy`.
//! Fix: set `reclaimPolicy: Retain` (StorageClass) or `persistentVolumeReclaimPolicy: Retain`
//! (PersistentVolume), and clean up released volumes deliberately.

use super::{Context, Rule, RuleInfo, finding_at};
use crate::finding::{Finding, Severity};

pub struct ReclaimPolicyDelete;

static INFO: RuleInfo = RuleInfo {
    id: "reclaim-policy-delete",
    default_severity: Severity::Warning,
    summary: "storage is deleted with its claim (reclaim policy Delete)",
    help: "set reclaimPolicy: Retain on the StorageClass (persistentVolumeReclaimPolicy: Retain on a PersistentVolume)",
};

impl Rule for ReclaimPolicyDelete {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A volume's reclaim policy decides what happens to the disk when its claim is deleted. \
         With Delete, which is the default for StorageClasses, any accidental deletion of a \
         claim (a pruned Namespace, a replaced Application) deletes the data for good. With \
         Retain the volume is only released, and the data can be recovered."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in ctx.notable {
            let field = match (object.id.group.as_str(), object.id.kind.as_str()) {
                ("storage.k8s.io", "StorageClass") => "reclaimPolicy",
                ("", "PersistentVolume") => "spec.persistentVolumeReclaimPolicy",
                _ => continue,
            };
            if !ctx.in_scope(object) {
                continue;
            }
            let Some(def) = object.effective_head() else {
                continue;
            };
            let value = match field {
                "reclaimPolicy" => def.value["reclaimPolicy"].as_str(),
                _ => def.value["spec"]["persistentVolumeReclaimPolicy"].as_str(),
            };
            let what = match (object.id.kind.as_str(), value) {
                (_, Some("Delete")) => format!("{field} is Delete"),
                ("StorageClass", None) => format!("{field} is not set, so it defaults to Delete"),
                _ => continue,
            };
            out.push(finding_at(
                &INFO,
                severity,
                &object.id,
                def,
                format!(
                    "{}: {what}: when a claim on this storage is deleted, by mistake included, \
                     the volume and its data are deleted with it. Set {field}: Retain.",
                    object.id
                ),
            ));
        }
    }
}
