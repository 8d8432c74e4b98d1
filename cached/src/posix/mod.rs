//! What a POSIX name or path may be: the rules the directory mapping, the configuration
//! (`reserved-names`, `home-root`) and the lookup path all apply, defined once, below
//! them all.
pub mod names;
pub mod paths;
