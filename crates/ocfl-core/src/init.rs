//! Creating a storage root.
