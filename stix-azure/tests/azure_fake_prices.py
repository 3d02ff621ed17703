"""A fake of the public Azure Retail Prices API (``GET /api/retail/prices``), for catalog tests.

Follows https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices:
no authentication, an OData ``$filter`` (``armRegionName eq '...'`` is honoured), pages of
``Items`` linked by ``NextPageLink`` (``$skip``), one item per meter: Linux and Windows
products, on-demand, ``Spot`` and ``Low Priority`` SKUs, priced per ``1 Hour``.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from harness.httpfake import FakeApi, Request, Response, json_response


def meter(
    size: str, region: str, price: float, kind: str = "", windows: bool = False
) -> dict[str, Any]:
    """One price item as the API returns it."""
    short = size.removeprefix("Standard_").replace("_", " ")
    series = "Virtual Machines " + short.split(" ")[0] + " Series" + (" Windows" if windows else "")
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": region,
        "effectiveStartDate": "2024-01-01T00:00:00Z",
        "meterName": short + (f" {kind}" if kind else ""),
        "productName": series,
        "skuName": short + (f" {kind}" if kind else ""),
        "serviceName": "Virtual Machines",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": size,
    }


class FakeRetailPricesApi(FakeApi):
    """Serves ``items`` filtered by region, ``page_size`` at a time."""

    def __init__(self, items: list[dict[str, Any]], page_size: int = 2) -> None:
        super().__init__()
        self.items = items
        self.page_size = page_size
        self.route("GET", r"/api/retail/prices", self.prices)

    def prices(self, req: Request) -> Response:
        wanted = re.search(r"armRegionName eq '([^']+)'", req.arg("$filter", "") or "")
        found = [i for i in self.items if not wanted or i["armRegionName"] == wanted.group(1)]
        skip = int(req.arg("$skip", "0") or 0)
        page = found[skip : skip + self.page_size]
        more = skip + self.page_size < len(found)
        query = {k: v[0] for k, v in req.query.items()}
        query["$skip"] = str(skip + self.page_size)
        link = f"{self.url}{req.path}?{urllib.parse.urlencode(query)}" if more else None
        return json_response(
            {
                "BillingCurrency": "USD",
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": page,
                "NextPageLink": link,
                "Count": len(page),
            }
        )


__all__ = ["FakeRetailPricesApi", "meter"]
