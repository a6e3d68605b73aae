import pytest

pytestmark = pytest.mark.db
