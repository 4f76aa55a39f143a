"""The built-in unit table (SI base units: m, kg, s, m^3, K)."""

from .registry import Unit, register

# length (base: metre)
register(Unit("m", "length", 1.0, name="metre"), "meter", "meters", "metres")
register(Unit("km", "length", 1000.0, name="kilometre"), "kilometer", "kilometers")
register(Unit("cm", "length", 0.01, name="centimetre"), "centimeter")
register(Unit("mm", "length", 0.001, name="millimetre"), "millimeter")
register(Unit("in", "length", 0.0254, name="inch"), "inches")
register(Unit("ft", "length", 0.3048, name="foot"), "feet")
register(Unit("yd", "length", 0.9144, name="yard"), "yards")
register(Unit("mi", "length", 1609.344, name="mile"), "miles")

# mass (base: kilogram)
register(Unit("kg", "mass", 1.0, name="kilogram"), "kilograms")
register(Unit("g", "mass", 0.001, name="gram"), "grams")
register(Unit("lb", "mass", 0.45359237, name="pound"), "pounds", "lbs")
register(Unit("oz", "mass", 0.028349523125, name="ounce"), "ounces")

# time (base: second)
register(Unit("s", "time", 1.0, name="second"), "sec", "seconds")
register(Unit("min", "time", 60.0, name="minute"), "minutes")
register(Unit("h", "time", 3600.0, name="hour"), "hr", "hours")
register(Unit("d", "time", 86400.0, name="day"), "days")

# volume (base: cubic metre)
register(Unit("L", "volume", 0.001, name="litre"), "l", "liter", "liters")
register(Unit("mL", "volume", 0.000001, name="millilitre"), "ml", "milliliter")
register(Unit("gal", "volume", 0.003785411784, name="gallon"), "gallons")

# temperature (base: kelvin)
register(Unit("K", "temperature", 1.0, name="kelvin"))
register(Unit("degC", "temperature", 1.0, 273.15, name="celsius"), "C", "°C")
register(Unit("degF", "temperature", 5.0 / 9.0, 459.67 * 5.0 / 9.0, name="fahrenheit"), "F", "°F")
register(Unit("degR", "temperature", 5.0 / 9.0, name="rankine"), "R")
