from catalog_testkit import catalog, registry, small_home

__all__ = ["catalog", "registry", "small_home"]
