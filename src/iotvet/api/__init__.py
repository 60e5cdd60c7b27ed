"""What iotvet knows of an API: operations normalised from OpenAPI, Swagger, HAR or Postman."""

from iotvet.api.model import ApiModel, ApiOperation, Param

__all__ = ["ApiModel", "ApiOperation", "Param"]
