//! kubectl against the fake.
