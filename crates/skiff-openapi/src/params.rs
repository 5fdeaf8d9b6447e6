//! The query and path parameters of kube-apiserver's operations, with upstream's
//! descriptions: write options (`dryRun`, `fieldManager`, `fieldValidation`), patch `force`,
//! delete options and list options.

/// A query or path parameter.
#[derive(Clone, Debug)]
pub struct Param {
    /// Parameter name.
    pub name: &'static str,
    /// `query` or `path`.
    pub location: &'static str,
    /// Schema type: `string`, `boolean`, `integer`.
    pub ty: &'static str,
    /// Upstream description.
    pub description: String,
    /// Whether it must be given (path parameters).
    pub required: bool,
}

/// A query parameter.
pub fn q(name: &'static str, ty: &'static str, description: &str) -> Param {
    Param {
        name,
        location: "query",
        ty,
        description: description.to_string(),
        required: false,
    }
}

/// `pretty`.
pub fn pretty() -> Param {
    q("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).")
}
/// `dryRun`.
pub fn dry_run() -> Param {
    q("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
}
/// `fieldManager`.
pub fn field_manager() -> Param {
    q("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.")
}
/// `fieldValidation`, which `kubectl apply` looks for on PATCH operations.
pub fn field_validation() -> Param {
    q("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.")
}
/// `force` (server-side apply).
pub fn force() -> Param {
    q("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.")
}

/// The options of create and replace.
pub fn write_params() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation()]
}

/// The options of patch.
pub fn patch_params() -> Vec<Param> {
    let mut fm = field_manager();
    fm.description.push_str(" This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).");
    vec![dry_run(), fm, field_validation(), force()]
}

/// The options of delete.
pub fn delete_params() -> Vec<Param> {
    vec![
        dry_run(),
        q("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
        q("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. The default value is false, and the user must opt in to enable it"),
        q("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
        q("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
    ]
}

/// `continue`.
pub fn cont() -> Param {
    q("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.")
}
/// `fieldSelector`.
pub fn field_selector() -> Param {
    q("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything.")
}
/// `labelSelector`.
pub fn label_selector() -> Param {
    q("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything.")
}
/// `limit`.
pub fn limit() -> Param {
    q("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.")
}
/// `resourceVersion`.
pub fn resource_version() -> Param {
    q("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}
/// `resourceVersionMatch`.
pub fn resource_version_match() -> Param {
    q("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}
/// `sendInitialEvents`.
pub fn send_initial_events() -> Param {
    q("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.")
}
/// `timeoutSeconds`.
pub fn timeout_seconds() -> Param {
    q("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.")
}

/// The options of list and watch.
pub fn list_params() -> Vec<Param> {
    vec![
        q("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. If this is not a watch, this field is ignored."),
        cont(),
        field_selector(),
        label_selector(),
        limit(),
        resource_version(),
        resource_version_match(),
        send_initial_events(),
        timeout_seconds(),
        q("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
    ]
}

/// The options of deletecollection, sorted by name as upstream lists them.
pub fn delete_collection_params() -> Vec<Param> {
    let mut v = vec![cont(), field_selector(), label_selector(), limit()];
    v.extend(delete_params());
    v.extend([
        resource_version(),
        resource_version_match(),
        send_initial_events(),
        timeout_seconds(),
    ]);
    v.sort_by_key(|p| p.name);
    v
}

/// A required path parameter.
pub fn path_param(name: &'static str, description: String) -> Param {
    Param {
        name,
        location: "path",
        ty: "string",
        description,
        required: true,
    }
}

/// The `{namespace}` path parameter.
pub fn namespace_param() -> Param {
    path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects".into(),
    )
}
