//! SCIM schema URNs and attribute names: the one place they are spelled.
//!
//! `homeDirectory`, `shadowPassword`, `posixGroupId` and the Group extension are our best
//! reading of the Workbench documentation (design.md §2); if Workbench spells them
//! differently, change them here and nowhere else.

/// Workbench's User extension schema.
pub const USER_EXTENSION: &str = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User";
/// Workbench's Group extension schema.
pub const GROUP_EXTENSION: &str = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:Group";
/// RFC 7644 ListResponse schema.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// RFC 7644 Error schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Resource endpoints, relative to the base URL.
pub const USERS_ENDPOINT: &str = "Users";
pub const GROUPS_ENDPOINT: &str = "Groups";

// Core attributes.
pub const ID: &str = "id";
pub const USER_NAME: &str = "userName";
pub const DISPLAY_NAME: &str = "displayName";
pub const NAME: &str = "name";
pub const NAME_FORMATTED: &str = "formatted";
pub const ACTIVE: &str = "active";
pub const MEMBERS: &str = "members";
pub const MEMBER_VALUE: &str = "value";
pub const META: &str = "meta";
pub const LAST_MODIFIED: &str = "lastModified";

// Extension attributes.
pub const ADMIN: &str = "admin";
pub const POSIX_USER_ID: &str = "posixUserId";
pub const POSIX_USER_NAME: &str = "posixUserName";
pub const POSIX_GROUP_ID: &str = "posixGroupId";
pub const POSIX_GROUP_NAME: &str = "posixGroupName";
pub const HOME_DIRECTORY: &str = "homeDirectory";
pub const SHADOW_PASSWORD: &str = "shadowPassword";

// ListResponse fields and query parameters.
pub const TOTAL_RESULTS: &str = "totalResults";
pub const ITEMS_PER_PAGE: &str = "itemsPerPage";
pub const START_INDEX: &str = "startIndex";
pub const RESOURCES: &str = "Resources";
pub const COUNT: &str = "count";
pub const FILTER: &str = "filter";

// RFC 7644 §3.12 error body.
pub const ERROR_DETAIL: &str = "detail";
pub const ERROR_SCIM_TYPE: &str = "scimType";
pub const ERROR_STATUS: &str = "status";

// Common to every message and resource (RFC 7643 §3).
pub const SCHEMAS: &str = "schemas";
