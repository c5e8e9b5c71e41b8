from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.core.catalog import load_catalog


def catalog_page(request: HttpRequest) -> HttpResponse:
    data = load_catalog()
    return render(request, "catalog.html", {"machines": data.machines, "factories": data.factories})
