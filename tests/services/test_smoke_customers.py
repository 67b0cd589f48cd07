from o2c_desktop.services import customers


def test_create_and_find(db, admin):
    created = customers.create_customer(db, admin, {"number": "C-1", "name": "Zürich AG"})
    rows = customers.list_customers(db, admin, customers.CustomerQuery(search="zur"))
    assert [r.id for r in rows] == [created.id]
