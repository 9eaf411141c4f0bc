"""The customs context's Declaration in the carrier port's terms (orderhub.logistics.international), and on to SF's
msgData: a hand-made Thai declaration, as the customs context draws it up."""

from __future__ import annotations

from orderhub.carriers.sf import intl
from orderhub.customs.model import Declaration, DeclarationLine
from orderhub.logistics.international import INTERNATIONAL_CARRIERS, customs_declaration, is_foreign
from tests.unit.test_sf_intl_mapper import thai_request


def thai_declaration() -> Declaration:
    line = DeclarationLine(
        sku="FEEDER-01",
        name_zh="自动喂食器",
        name_en="Automatic pet feeder",
        name_local="เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ",
        hs_code="8436210000",
        material="ABS plastic",
        usage="feeding pets",
        origin_country="CN",
        qty=2,
        unit_weight_g=1350,
        unit_value=12900,  # fen
        certificates={"TISI": "TIS 1195-2561"},
    )
    gift = DeclarationLine(
        sku="SCOOP-01", name_zh="量勺", name_en="Measuring scoop", name_local="", hs_code="3924100000", material="PP",
        usage="", origin_country="CN", qty=1, unit_weight_g=20, unit_value=100, is_gift=True,
    )
    dropped = DeclarationLine(
        sku="NONE-01", name_zh="无", name_en="Nothing", name_local="", hs_code="3924100000", material="", usage="",
        origin_country="CN", qty=0, unit_weight_g=1, unit_value=1,
    )
    return Declaration(
        order_id=77, external_id="TH-77", destination="TH", local_language="th", currency="CNY",
        sender_name="华东仓发货组", sender_phone="02112345678", sender_address="上海市青浦区华新镇华志路 1 号",
        sender_country="CN", receiver_name="Somchai Jaidee", receiver_phone="+66 81 234 5678",
        receiver_address="99/1 Silom Road, Suriyawong", receiver_city="Bang Rak", receiver_region="Bangkok",
        receiver_postcode="10500", receiver_country="TH", lines=[line, gift, dropped], total_weight_g=2720,
        total_value=25900, shipping=0, category="sale_of_goods",
    )


def test_declaration_maps_to_the_port_and_on_to_sf() -> None:
    customs = customs_declaration(thai_declaration())
    assert (customs.currency, customs.total_value, customs.category) == ("CNY", 25900, "sale_of_goods")
    assert [line.sku for line in customs.lines] == ["FEEDER-01", "SCOOP-01"]  # nothing-to-ship lines left out
    feeder = customs.lines[0]
    assert (feeder.name_en, feeder.hs_code, feeder.origin_country, feeder.qty, feeder.unit_weight_g) == (
        "Automatic pet feeder", "8436210000", "CN", 2, 1350
    )
    assert feeder.name_local.startswith("เครื่อง")

    data = intl.create_order_data(thai_request(customs=customs), monthly_card="", sender_postcode="201708")
    assert data["customsInfo"] == {"declaredValue": 259.0, "declaredValueCurrency": "CNY"}
    assert [(c["name"], c["amount"], c["currency"]) for c in data["cargoDetails"]] == [
        ("Automatic pet feeder", 129.0, "CNY"),
        ("Measuring scoop", 1.0, "CNY"),
    ]


def test_only_carriers_with_an_international_service_are_offered_a_foreign_receiver() -> None:
    assert INTERNATIONAL_CARRIERS == ("SF",)
    assert is_foreign("TH") and is_foreign("my")
    assert not is_foreign("CN") and not is_foreign("") and not is_foreign(None)
