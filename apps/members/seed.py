"""The tiers a new programme starts with (editable afterwards in the back office)."""

from typing import Any

DEFAULT_TIERS = [
    # code, English name, Chinese name, rank, growth value threshold, points multiplier
    ("basic", "Basic", "普通会员", 0, 0, "1.00"),
    ("silver", "Silver", "银卡会员", 1, 1000, "1.20"),
    ("gold", "Gold", "金卡会员", 2, 5000, "1.50"),
    ("vip", "VIP", "黑卡会员", 3, 20000, "2.00"),
]


def seed_default_tiers(tier_model: Any) -> None:
    """Create the default tiers if the programme has none (takes the historical model in migrations)."""
    if tier_model.objects.exists():
        return
    for code, name_en, name_zh, rank, threshold, multiplier in DEFAULT_TIERS:
        tier_model.objects.create(
            code=code, name=name_en, name_en=name_en, name_zh_hans=name_zh, rank=rank, threshold=threshold, points_multiplier=multiplier
        )
