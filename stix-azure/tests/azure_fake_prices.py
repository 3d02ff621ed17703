"""Fakes behind the Azure catalog: the public Retail Prices API and the Resource SKUs list.

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


def sku_list(sizes: dict[str, dict[str, Any]], regions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``value`` of ``GET /providers/Microsoft.Compute/skus``: one entry per size and region.

    Follows https://learn.microsoft.com/rest/api/compute/resource-skus/list (capabilities as
    name/value strings, ``Location`` restrictions with ``NotAvailableForSubscription``).
    """
    value = []
    for size, shape in sizes.items():
        for region in regions:
            caps = [
                {"name": "vCPUs", "value": str(shape["vCPUs"])},
                {"name": "MemoryGB", "value": str(shape["MemoryGB"])},
                {"name": "HyperVGenerations", "value": shape.get("gen", "V1,V2")},
            ]
            if shape.get("GPUs"):
                caps.append({"name": "GPUs", "value": str(shape["GPUs"])})
            restrictions = []
            if region in shape.get("restricted", ()):
                restrictions.append(
                    {
                        "type": "Location",
                        "values": [region],
                        "reasonCode": "NotAvailableForSubscription",
                    }
                )
            value.append(
                {
                    "resourceType": "virtualMachines",
                    "name": size,
                    "tier": "Standard",
                    "size": size.split("_", 1)[-1],
                    "family": shape.get("family", "standardDSv5Family"),
                    "locations": [region],
                    "locationInfo": [{"location": region, "zones": ["1", "2", "3"]}],
                    "capabilities": caps,
                    "restrictions": restrictions,
                }
            )
    value.append(
        {
            "resourceType": "disks",
            "name": "Premium_LRS",
            "locations": ["eastus"],
            "capabilities": [],
            "restrictions": [],
        }
    )
    return value


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


__all__ = ["FakeRetailPricesApi", "meter", "sku_list"]
