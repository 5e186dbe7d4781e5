//! Schema helpers for request fields whose JSON form the derive cannot describe: exact decimals
//! accepted as numbers or numeric strings, and fields only `null` may fill. They live with the
//! domain types that use them (`#[schema(schema_with = ...)]`), so the domain does not depend on
//! the API document.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// An exact decimal in a request: a JSON number (`12.5`) or a numeric string (`"12.50"`).
fn decimal_input(max: f64, decimals: u32, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Number, Type::String, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(max))
        .description(Some(format!(
            "{description} with at most {decimals} decimals, as a JSON number or a numeric string (the \
             service checks the bounds on both)."
        )))
        .build()
}

/// Money: 0 to 9999999.99.
pub fn money_input() -> Object {
    decimal_input(9_999_999.99, 2, "An amount from 0 to 9999999.99")
}

/// A percentage: 0 to 100.
pub fn percentage_input() -> Object {
    decimal_input(100.0, 2, "A percentage from 0 to 100")
}

/// A tax rate: 0 to 1.
pub fn tax_rate_input() -> Object {
    decimal_input(1.0, 4, "A rate from 0 to 1")
}

/// `promo_code` of a quote: only `null` is accepted (422 `PROMO_CODES_UNSUPPORTED`).
pub fn unsupported_promo_code() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some(
            "Promotion codes are not supported: any value is refused with 422 `PROMO_CODES_UNSUPPORTED`.",
        ))
        .build()
}

/// The schema of a create body: the resource's update body (`$update`, whose fields are all
/// optional) with the fields creation requires. One Rust type parses both requests
/// (`domain::Mode` says which); this names the create form for the API document.
macro_rules! create_body {
    ($(#[$doc:meta])* $create:ident = $update:ty, required: [$($field:literal),+ $(,)?]) => {
        $(#[$doc])*
        pub enum $create {}

        impl utoipa::PartialSchema for $create {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::Schema;
                use utoipa::openapi::RefOr;
                match <$update as utoipa::PartialSchema>::schema() {
                    RefOr::T(Schema::Object(mut object)) => {
                        object.required = vec![$($field.to_owned()),+];
                        object.description =
                            object.description.map(|d| format!("{d} On creation `version` is ignored."));
                        RefOr::T(Schema::Object(object))
                    }
                    other => other,
                }
            }
        }

        impl utoipa::ToSchema for $create {
            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                <$update as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use create_body;
