//! (Reader under construction: Parquet is refused with a clear error until it lands.)

use crate::detect::{Context, FileReader};
use crate::error::FlowError;
use crate::source::Opened;

pub(crate) fn reader(ctx: Context, _opened: Opened) -> Result<Box<dyn FileReader>, FlowError> {
    Err(FlowError::format(
        &ctx.file,
        0,
        "AWS Parquet flow logs are not readable yet",
    ))
}
